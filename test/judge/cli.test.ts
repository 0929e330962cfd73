/**
 * `guardian canary judge --input FILE [--json]` as an operator or a script runs it: the real
 * `bin/guardian.js` in a child process, its exit code (0 pass, 1 marginal or fail, 2 bad input) and
 * exactly what reaches stdout and stderr.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runGuardian } from '../helpers/cli.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'guardian-judge-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI with `argv`, feeding `stdin` when given. */
const guardian = (argv: readonly string[], stdin?: string) =>
  runGuardian(argv, { timeoutMs: 60_000, ...(stdin !== undefined && { stdin }) });

/** Writes `doc` (JSON unless a string) to a file in the temp folder. */
function file(name: string, doc: unknown): string {
  const p = path.join(dir, name);
  writeFileSync(p, typeof doc === 'string' ? doc : JSON.stringify(doc));
  return p;
}

const BASELINE = [300, 310, 295, 305, 290, 301, 299, 302, 298, 304];
const SAME = [301, 309, 296, 304, 291, 300, 298, 303, 297, 305];
const SLOWER = [410, 415, 405, 420, 400, 412, 408, 411, 409, 414];
const ERRORS = [1, 1.1, 0.9, null, 1, 1.05, 0.95, 1, 1.02, 0.98];

describe('guardian canary judge', () => {
  it('exits 0 on pass and prints one JSON document of exactly the documented fields', async () => {
    const input = file('pass.json', {
      metrics: [
        { name: 'p99 latency', direction: 'increase', baseline: BASELINE, canary: SAME },
        { name: 'error rate', direction: 'increase', critical: true, baseline: ERRORS, canary: ERRORS },
      ],
    });
    const run = await guardian(['canary', 'judge', '--input', input, '--json']);
    expect(run.code).toBe(0);
    const doc = JSON.parse(run.stdout);
    expect(Object.keys(doc)).toEqual(['verdict', 'score', 'metrics']);
    expect(doc).toMatchObject({ verdict: 'pass', score: 100 });
    expect(Object.keys(doc.metrics[0])).toEqual([
      'name',
      'classification',
      'estimate',
      'lowerCI',
      'upperCI',
      'effectSize',
      'critical',
      'reason',
    ]);
    expect(doc.metrics[1]).toMatchObject({ name: 'error rate', classification: 'Pass', critical: false });
  });

  it('exits 1 on fail and prints a table with each metric and its reason', async () => {
    const input = file('fail.json', {
      metrics: [
        { name: 'p99 latency', direction: 'increase', unit: 'ms', baseline: BASELINE, canary: SLOWER },
        { name: 'error rate', direction: 'increase', baseline: ERRORS, canary: ERRORS },
      ],
    });
    const run = await guardian(['canary', 'judge', '--input', input]);
    expect(run.code).toBe(1);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^metric\s+classification\s+estimate\s+CI\s+effect$/);
    expect(lines[1]).toMatch(/^p99 latency\s+High\s+110\s+104\.\.116\s+1\.37$/);
    expect(lines[2]).toBe(
      '  p99 latency: canary 410 ms vs baseline 300 ms (+37%, CI +104..+116 ms at 98%): High',
    );
    expect(lines.at(-1)).toBe(
      'verdict: fail  score 50 (pass ≥ 95, marginal ≥ 75); failing: p99 latency High: fail',
    );
  });

  it('exits 1 on marginal, and honours thresholds, weights and the classifier settings', async () => {
    const input = file('marginal.json', {
      metrics: [
        { name: 'p99', direction: 'increase', baseline: BASELINE, canary: SLOWER, weight: 20 },
        { name: 'errors', direction: 'increase', baseline: BASELINE, canary: SAME, weight: 80 },
      ],
      thresholds: { pass: 90, marginal: 70 },
      classifier: { confidence: 0.95, tolerance: 0.1 },
    });
    const run = await guardian(['canary', 'judge', '--input', input, '--json']);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ verdict: 'marginal', score: 80 });
    expect(JSON.parse(run.stdout).metrics[0].reason).toContain('at 95%');
  });

  it('reads the input from stdin with --input -', async () => {
    const doc = { metrics: [{ name: 'p99', direction: 'either', baseline: BASELINE, canary: SAME }] };
    const run = await guardian(['canary', 'judge', '--input', '-', '--json'], JSON.stringify(doc));
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).verdict).toBe('pass');
  });

  it('exits 2 naming the JSON path of every bad field', async () => {
    const input = file('bad.json', {
      metrics: [
        { name: 'a', direction: 'increase', baseline: [1, 2], canary: [1, 2] },
        { name: 'b', direction: 'up', baseline: [1, 2, 3, 'x'], canary: [1], colour: 'red' },
      ],
    });
    const run = await guardian(['canary', 'judge', '--input', input]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(
      'is not a valid judge input: metrics[1].direction: expected increase, decrease or either; metrics[1].baseline[3]: expected number or null; metrics[1]: unknown field colour',
    );
    expect(run.stderr).toContain("Run 'guardian canary --help'.");
  });

  it('exits 2 with an error document under --json when the file is malformed', async () => {
    const input = file('bad2.json', {
      metrics: [{ name: 'a', direction: 'increase', baseline: [1], canary: [null, true] }],
    });
    const run = await guardian(['canary', 'judge', '--input', input, '--json']);
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout).error).toMatchObject({
      type: 'UsageError',
      exitCode: 2,
      message: expect.stringContaining('metrics[0].canary[1]: expected number or null'),
    });
  });

  it('exits 2 with a clear message when the file is missing or not JSON', async () => {
    const missing = await guardian(['canary', 'judge', '--input', path.join(dir, 'nope.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/guardian: cannot read '.*nope\.json': ENOENT/);
    const notJson = await guardian(['canary', 'judge', '--input', file('text.json', 'metrics: [')]);
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toMatch(/guardian: '.*text\.json' is not JSON \(/);
    const noInput = await guardian(['canary', 'judge']);
    expect(noInput.code).toBe(2);
    expect(noInput.stderr).toContain('guardian: --input is required');
    const wrongWord = await guardian(['canary', 'score', '--input', 'x']);
    expect(wrongWord.code).toBe(2);
    expect(wrongWord.stderr).toContain(
      "unknown canary subcommand 'score'; one of: judge, run, approve, reject",
    );
  });

  it('documents the exit codes in its help', async () => {
    const run = await guardian(['canary', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      'Exit 0 pass (judge, run) or decided (approve, reject); 1 marginal, fail or inconclusive, or nothing held; 2 bad input',
    );
  });
});
