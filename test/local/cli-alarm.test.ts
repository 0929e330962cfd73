/**
 * `guardian alarm replay`, `guardian incidents` and `guardian ack` through the CLI, locally: the
 * real handler on saved real-format events, one JSON document with --json, exit 2 for a file that
 * is no alarm event (nothing changes), and an acknowledgement that stops the chain.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../lib/cli/commands.ts';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/alarm-events');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'guardian-alarm-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const local = () => ['--local', '--state-dir', dir];

describe('guardian alarm replay / incidents / ack (local)', () => {
  it('replays a production HighErrorRate with no release on record: escalates, says why, one JSON document', async () => {
    const r = await cli(
      'alarm',
      'replay',
      path.join(FIXTURES, 'guardian-high-error-rate-alarm.json'),
      ...local(),
      '--json',
    );
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out) as Record<string, unknown>;
    expect(doc).toMatchObject({
      action: 'escalate',
      environment: 'production',
      alarm: 'guardian-production-HighErrorRate',
      severity: 'critical',
      reason: expect.stringContaining('no release of production is on record'),
      incidentId: expect.stringMatching(/^production-20261120T101205Z-[0-9a-f]{8}$/),
    });
    // The same event again: EventBridge's redelivery, a no-op.
    const again = JSON.parse(
      (
        await cli(
          'alarm',
          'replay',
          path.join(FIXTURES, 'guardian-high-error-rate-alarm.json'),
          ...local(),
          '--json',
        )
      ).out,
    );
    expect(again).toMatchObject({ action: 'ignore', reason: expect.stringContaining('already handled') });

    const list = await cli('incidents', '--env', 'production', ...local(), '--json');
    const incidents = JSON.parse(list.out) as { id: string; status: string; levelContact?: string }[];
    expect(incidents).toHaveLength(1);
    expect(incidents[0]).toMatchObject({ id: doc.incidentId, status: 'open', levelContact: 'on-call' });

    const ack = await cli('ack', String(doc.incidentId), ...local(), '--requested-by', 'alice');
    expect(ack.code).toBe(0);
    expect(ack.out).toContain(`Incident ${doc.incidentId} acknowledged by alice`);
    const twice = await cli('ack', String(doc.incidentId), ...local(), '--json');
    expect(JSON.parse(twice.out)).toMatchObject({
      changed: false,
      message: expect.stringContaining('already acknowledged by alice'),
    });
  });

  it('ignores an event that is no alarm state change, and one of another account, saying why', async () => {
    const change = await cli(
      'alarm',
      'replay',
      path.join(FIXTURES, 'configuration-change.json'),
      ...local(),
      '--json',
    );
    expect(change.code).toBe(0);
    expect(JSON.parse(change.out)).toMatchObject({ action: 'ignore' });
    const other = JSON.parse(
      (await import('node:fs')).readFileSync(
        path.join(FIXTURES, 'guardian-high-error-rate-alarm.json'),
        'utf8',
      ),
    ) as Record<string, unknown>;
    other.account = '999999999999';
    const file = path.join(dir, 'other-account.json');
    writeFileSync(file, JSON.stringify(other));
    const r = await cli('alarm', 'replay', file, ...local(), '--json');
    expect(JSON.parse(r.out)).toMatchObject({
      action: 'ignore',
      reason: expect.stringContaining('account 999999999999'),
    });
  });

  it.each([
    ['not JSON', '{"version": "0",', /is not JSON/],
    ['no EventBridge event', '[1, 2]', /not an EventBridge event/],
    [
      'an alarm event without its state',
      JSON.stringify({
        version: '0',
        id: 'e1',
        'detail-type': 'CloudWatch Alarm State Change',
        source: 'aws.cloudwatch',
        account: '123456789012',
        time: '2026-11-20T10:12:05Z',
        region: 'ap-southeast-1',
        resources: ['arn:aws:cloudwatch:ap-southeast-1:123456789012:alarm:guardian-staging-HighErrorRate'],
        detail: { alarmName: 'guardian-staging-HighErrorRate', configuration: {} },
      }),
      /detail\.state is missing/,
    ],
  ])('exits 2 for %s, naming what is wrong, and changes nothing', async (_what, content, message) => {
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, content);
    const r = await cli('alarm', 'replay', file, ...local(), '--json');
    expect(r.code).toBe(2);
    expect(JSON.parse(r.out).error.message).toMatch(message);
    const list = JSON.parse((await cli('incidents', '--env', 'staging', ...local(), '--json')).out);
    expect(list).toEqual([]);
  });

  it('exits 2 for a missing file, a wrong subcommand and an id that is no incident id; 1 for an unknown incident', async () => {
    expect((await cli('alarm', 'replay', path.join(dir, 'nope.json'))).code).toBe(2);
    expect((await cli('alarm', 'rerun', 'x.json')).err).toContain("unknown alarm subcommand 'rerun'");
    expect((await cli('alarm')).err).toContain('the word replay is missing');
    expect((await cli('ack', 'not-an-id', ...local())).code).toBe(2);
    const unknown = await cli('ack', 'staging-20261120T101205Z-00000000', ...local(), '--json');
    expect(unknown.code).toBe(1);
    expect(JSON.parse(unknown.out).error.message).toContain('no incident staging-20261120T101205Z-00000000');
  });
});
