/**
 * `guardian backup list|restore` (issue 10) as an operator runs them: the real CLI process against
 * the local runner's RDS double in a state folder (snapshots made through LocalGuardian.snapshots,
 * as the backup step makes them), exit codes and the single JSON document of --json.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshotIdentifier, snapshotTags } from '../../lambdas/core/backup.ts';
import type { DeploymentRecord } from '../../lambdas/core/types.ts';
import { loadConfig } from '../../lib/config/load.ts';
import { SharedClock, type SimulatedClock } from '../../lib/local/clock.ts';
import { LocalGuardian } from '../../lib/local/guardian.ts';
import type { RdsSimState } from '../../lib/local/rds-sim.ts';
import { statePaths, stopStateService } from '../../lib/local/state-service.ts';
import { runGuardian } from '../helpers/cli.ts';
import { configWith } from '../helpers/config.ts';

const guardian = (argv: readonly string[]) =>
  runGuardian(argv, { env: { HOME: tmpdir() }, timeoutMs: 120_000 });

const LIVE = 'buywhere-staging';
const dirs: string[] = [];
let configDir = '';
let stateDir = '';
/** `--env staging --local --state-dir D --config-dir C`. */
let local: string[] = [];

afterAll(async () => {
  for (const d of dirs) {
    await stopStateService(d).catch(() => undefined);
    rmSync(d, { recursive: true, force: true });
  }
});

beforeAll(() => {
  // Staging backs up the shipped config's database; production here has none.
  configDir = configWith(dirs, (yaml) =>
    yaml.replace('database: { kind: instance, identifier: buywhere-prod }', 'database: none'),
  );
  stateDir = mkdtempSync(path.join(tmpdir(), 'guardian-backup-'));
  dirs.push(stateDir);
  local = ['--env', 'staging', '--local', '--state-dir', stateDir, '--config-dir', configDir];
});

const rdsState = (): RdsSimState =>
  JSON.parse(readFileSync(path.join(stateDir, 'rds-staging.json'), 'utf8')) as RdsSimState;

/** What `backup list --json` prints for each snapshot. */
interface Entry {
  id: string;
  kind: string;
  database: string;
  status: string;
  createdAt: string | null;
  version: string | null;
  deploymentId: string | null;
  recordId: string | null;
}

describe('guardian backup list|restore', () => {
  const ids: string[] = [];
  let otherDbSnapshot = '';
  let creatingSnapshot = '';

  it('lists no snapshots of an environment that has taken none', async () => {
    const r = await guardian(['backup', 'list', ...local]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`no guardian snapshots of DB instance ${LIVE} (staging) yet`);
  });

  it('lists the snapshots newest first, with their release, deployment and the record that points at one', async () => {
    const g = await LocalGuardian.start({ config: loadConfig(configDir), stateDir });
    try {
      const clock = g.clock as SimulatedClock;
      const rds = g.snapshots('staging');
      for (const version of ['v1.0.0', 'v1.1.0']) {
        const id = snapshotIdentifier('staging', version, clock.now());
        await rds.create(
          { kind: 'instance', identifier: LIVE },
          id,
          snapshotTags('staging', version, `dep-${version}`),
        );
        ids.push(id);
        clock.advance(3600);
      }
      // A snapshot of another database in the same account: never restorable for staging.
      rds.seedDatabase({ kind: 'instance', identifier: 'orders-db' });
      otherDbSnapshot = snapshotIdentifier('orders', 'v9', clock.now());
      await rds.create(
        { kind: 'instance', identifier: 'orders-db' },
        otherDbSnapshot,
        snapshotTags('orders', 'v9', 'x'),
      );
      const record: DeploymentRecord = {
        environment: 'staging',
        id: 'dep-v1.0.0',
        kind: 'deploy',
        status: 'succeeded',
        executionArn: 'arn:aws:states:ap-southeast-1:000000000000:execution:deploy:dep-v1.0.0',
        trigger: 'ci',
        requestedBy: 'ci-bot',
        image: 'ghcr.io/buywhere/buywhere-api:v1.0.0',
        version: 'v1.0.0',
        rollbackPoint: {
          platform: 'kubernetes',
          revision: 1,
          image: 'ghcr.io/buywhere/buywhere-api:v0.9.0',
          podTemplate: {},
        },
        startedAt: new Date(clock.now().getTime() - 7200_000).toISOString(),
        backup: {
          snapshotId: ids[0] as string,
          kind: 'instance',
          identifier: LIVE,
          status: 'available',
          startedAt: new Date(clock.now().getTime() - 7200_000).toISOString(),
        },
      };
      await g.store('staging').putRecord(record);
      // Taken last and not yet available: listed as creating.
      clock.advance(60);
      creatingSnapshot = snapshotIdentifier('staging', 'v1.2.0', clock.now());
      await rds.create(
        { kind: 'instance', identifier: LIVE },
        creatingSnapshot,
        snapshotTags('staging', 'v1.2.0', 'dep-v1.2.0'),
      );
    } finally {
      await g.close();
    }

    const r = await guardian(['backup', 'list', ...local]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe(`staging: snapshots of DB instance ${LIVE}, newest first`);
    expect(lines[1]).toMatch(/^snapshot +status +created +version +deployment +record$/);
    expect(lines.slice(2).map((l) => l.split(/ +/)[0])).toEqual([creatingSnapshot, ids[1], ids[0]]);
    expect(lines[2]).toMatch(/ creating +\S+ +v1\.2\.0 +dep-v1\.2\.0 +-$/);
    expect(lines[4]).toMatch(/ available +\S+ +v1\.0\.0 +dep-v1\.0\.0 +dep-v1\.0\.0$/);
    expect(r.stdout).not.toContain(otherDbSnapshot);
  });

  it('prints the list as one JSON array when asked, even piped', async () => {
    const r = await guardian(['backup', 'list', ...local, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as Entry[];
    expect(doc.map((e) => e.id)).toEqual([creatingSnapshot, ids[1], ids[0]]);
    expect(doc[2]).toEqual({
      id: ids[0],
      kind: 'instance',
      database: LIVE,
      status: 'available',
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      version: 'v1.0.0',
      deploymentId: 'dep-v1.0.0',
      recordId: 'dep-v1.0.0',
    });
    expect(doc[1]?.recordId).toBeNull();
  });

  it('restores a snapshot to a new database, prints the next steps and leaves the live database alone', async () => {
    const snapshot = ids[1] as string;
    const r = await guardian(['backup', 'restore', snapshot, ...local, '--requested-by', 'alice']);
    expect(r.code, r.stderr).toBe(0);
    const newId = /new DB instance (\S+);/.exec(r.stdout)?.[1] ?? '';
    expect(newId).toMatch(new RegExp(`^${LIVE}-restored-\\d{8}t\\d{6}z$`));
    expect(r.stdout).toContain(
      `Restoring snapshot ${snapshot} to a new DB instance ${newId}; the live DB instance ${LIVE} is not touched.`,
    );
    expect(r.stdout).toContain(`DB instance ${newId} is 'creating'.`);
    expect(r.stdout).toContain(`1. Wait until ${newId} is 'available'`);
    expect(r.stdout).toMatch(/4\. Point the application at .*'s endpoint/);

    const state = rdsState();
    const live = state.databases.find((d) => d.identifier === LIVE);
    expect(live?.restoredFrom).toBeUndefined();
    expect(live?.createdAt).toBe(new Date(0).toISOString());
    const restored = state.databases.find((d) => d.identifier === newId);
    expect(restored).toMatchObject({ kind: 'instance', restoredFrom: snapshot });
    expect(restored?.tags).toMatchObject({
      'guardian:environment': 'staging',
      'guardian:restored-from': snapshot,
      'guardian:requested-by': 'alice',
    });
    // The snapshot is still there: a restore copies it, never uses it up.
    expect(state.snapshots.map((s) => s.id)).toContain(snapshot);
  });

  it('refuses a second restore in the same second, whose new database exists already', async () => {
    const r = await guardian(['backup', 'restore', ids[0] as string, ...local, '--json']);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { error: { type: string; message: string } };
    expect(doc.error.type).toBe('RestoreTargetExists');
    expect(doc.error.message).toMatch(
      /DB instance \S+-restored-\S+ already exists \(a restore started in the same second\)/,
    );
  });

  it('prints the restore as one JSON document', async () => {
    new SharedClock(statePaths(stateDir).clock).advance(1);
    const r = await guardian(['backup', 'restore', ids[0] as string, ...local, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(doc).toMatchObject({
      environment: 'staging',
      kind: 'instance',
      snapshotId: ids[0],
      liveIdentifier: LIVE,
      status: 'creating',
    });
    expect(doc.newIdentifier).toMatch(new RegExp(`^${LIVE}-restored-`));
    expect((doc.lines as string[]).length).toBe(8);
  });

  it('refuses an unknown snapshot, one of another database and one still being created, restoring nothing', async () => {
    const before = rdsState().databases.length;
    const unknown = await guardian(['backup', 'restore', 'guardian-staging-v0-20200101t000000z', ...local]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("no DB snapshot 'guardian-staging-v0-20200101t000000z' for staging");
    expect(unknown.stderr).toContain('guardian backup list --env staging --local');

    const other = await guardian(['backup', 'restore', otherDbSnapshot, ...local, '--json']);
    expect(other.code).toBe(1);
    const doc = JSON.parse(other.stdout) as { error: { type: string; message: string; exitCode: number } };
    expect(doc.error).toMatchObject({ type: 'RestoreRefused', exitCode: 1 });
    expect(doc.error.message).toContain(
      `was taken of 'orders-db', not of the environment's database '${LIVE}'`,
    );

    const creating = await guardian(['backup', 'restore', creatingSnapshot, ...local]);
    expect(creating.code).toBe(1);
    expect(creating.stderr).toContain("is 'creating'; only an 'available' snapshot can be restored");
    expect(rdsState().databases.length).toBe(before);
  });

  it("lists the snapshot a local deployment's backup step took, pointed at by its record", async () => {
    const fresh = mkdtempSync(path.join(tmpdir(), 'guardian-backup-deploy-'));
    dirs.push(fresh);
    const flags = ['--env', 'staging', '--local', '--state-dir', fresh, '--config-dir', configDir];
    const deployed = await guardian([
      'deploy',
      '--image',
      'ghcr.io/buywhere/buywhere-api:v1.5.0',
      ...flags,
      '--json',
    ]);
    expect(deployed.code, deployed.stderr).toBe(0);
    const deployment = (JSON.parse(deployed.stdout) as { name: string }).name;
    const r = await guardian(['backup', 'list', ...flags, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      expect.objectContaining({
        id: expect.stringMatching(/^guardian-staging-v1-5-0-\d{8}t\d{6}z$/),
        database: LIVE,
        status: 'available',
        version: 'v1.5.0',
        deploymentId: deployment,
        recordId: deployment,
      }),
    ]);
  });

  it('refuses an environment without a database configured for backups', async () => {
    const r = await guardian([
      'backup',
      'list',
      '--env',
      'production',
      '--local',
      '--state-dir',
      stateDir,
      '--config-dir',
      configDir,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('production has no database configured for backups (backup.database: none)');
  });

  it.each([
    [['backup'], 'a subcommand (list, restore) is missing'],
    [['backup', 'drop', '--env', 'staging'], "unknown backup subcommand 'drop'; one of: list, restore"],
    [['backup', 'restore', '--env', 'staging', '--local'], 'backup restore needs the snapshot to restore'],
    [['backup', 'list', 'guardian-x', '--env', 'staging'], 'backup list takes no snapshot'],
    [
      ['backup', 'list', '--env', 'staging', '--requested-by', 'bob'],
      '--requested-by is not an option of backup list',
    ],
    [['backup', 'restore', 'not a snapshot!', '--env', 'staging'], 'is not a snapshot id'],
    [['backup', 'list', '--env', 'staging', '--state-dir', '/tmp'], '--state-dir needs --local'],
  ])('exits 2 with a usage error for guardian %j', async (argv, message) => {
    const r = await guardian([...argv, '--config-dir', configDir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain("Run 'guardian backup --help'.");
  });
});
