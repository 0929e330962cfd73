/**
 * What the CLI prints: state-by-state progress of an execution (like the console's graph, in
 * text) and summaries of records, lock, breaker and freezes. Text from records, clusters and
 * operators is printed with its non-printable characters escaped; it may have been stored by
 * anything, and must never steer the terminal.
 */

import { type BackupMark, databaseName } from '../../lambdas/core/backup-phase.ts';
import { countedList } from '../../lambdas/core/breaker.ts';
import { reasonText } from '../../lambdas/core/context.ts';
import { printable } from '../../lambdas/core/text.ts';
import type { BreakerState, CanaryRecord, DeploymentRecord, LockInfo } from '../../lambdas/core/types.ts';
import type { LocalEvent, LocalExecutionResult } from '../local/executor.ts';

/** Where the CLI writes (stdout/stderr), injectable for tests. */
export interface Output {
  out(line: string): void;
  err(line: string): void;
}

/** The only escape sequences the CLI writes itself: the colours of {@link paint}. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the ESC of the CLI's own colours is what it matches
const OWN_SGR = /(\u001b\[(?:0|1|2|31|32)m)/;

/**
 * A line as it may reach a terminal: the CLI's own colours and line breaks kept, every other
 * non-printable character escaped. The last line of defence; formatting escapes data first.
 */
export function terminalSafe(line: string): string {
  return line
    .split('\n')
    .map((l) =>
      l
        .split(OWN_SGR)
        .map((part, i) => (i % 2 === 1 ? part : printable(part)))
        .join(''),
    )
    .join('\n');
}

/** Writes to a stream, each line made {@link terminalSafe}. */
function writer(write: (text: string) => unknown): (line: string) => void {
  return (line) => {
    write(`${terminalSafe(line)}\n`);
  };
}

/** The process's own stdout/stderr. */
export const processOutput: Output = {
  out: writer((text) => process.stdout.write(text)),
  err: writer((text) => process.stderr.write(text)),
};

/**
 * The process's stdout reserved for `out`: anything else that writes to stdout (a library's
 * `console.log`) goes to stderr instead, so with `--json` stdout holds exactly one document.
 */
export function reservedStdoutOutput(): Output {
  const stdoutWrite = process.stdout.write.bind(process.stdout);
  process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
  return { out: writer(stdoutWrite), err: processOutput.err };
}

/**
 * `value` as a JSON document, with the characters JSON leaves raw but a terminal acts on (C1
 * controls, line separators, bidi controls) written as `\uXXXX` escapes: the same data, safe to print.
 */
export function jsonDocument(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /[\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`,
  );
}

/** Output that sends everything to `output.err`: progress while stdout carries a JSON document. */
export function toStderr(output: Output): Output {
  return { out: (line) => output.err(line), err: (line) => output.err(line) };
}

const useColor = () => process.stdout.isTTY === true && !process.env.NO_COLOR;
const paint = (code: string, s: string) => (useColor() ? `\u001b[${code}m${s}\u001b[0m` : s);
/** Green text on a TTY. */
export const green = (s: string) => paint('32', s);
/** Red text on a TTY. */
export const red = (s: string) => paint('31', s);
/** Yellow (something in progress or waiting). */
export const yellow = (s: string) => paint('33', s);
/** Dim text on a TTY. */
export const dim = (s: string) => paint('2', s);
/** Bold text on a TTY. */
export const bold = (s: string) => paint('1', s);

function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** The sentence a step's result carries for operators, if any. */
export function messageOf(result: unknown): string | undefined {
  if (!result || typeof result !== 'object') return undefined;
  const r = result as Record<string, unknown>;
  for (const key of ['message', 'summary'])
    if (typeof r[key] === 'string') return printable(r[key] as string);
  if (typeof r.ExecutionArn === 'string')
    return printable(
      `child execution ${String(r.ExecutionArn).split(':').pop()} ${String(r.Status ?? '')}`.trim(),
    );
  return undefined;
}

/** Prints each state as it is entered and left, with wall and simulated timings. */
export function progressPrinter(output: Output): (event: LocalEvent) => void {
  const entered = new Map<string, number>();
  const failed = new Set<string>();
  const waitsRunOut = new Set<string>();
  return (e) => {
    const indent = '  '.repeat(e.depth + 1);
    const key = `${e.execution}/${e.state ?? ''}`;
    const sim = dim(`[t+${Math.round(e.simSeconds)}s]`);
    switch (e.type) {
      case 'ExecutionStarted':
        output.out(`${indent.slice(2)}${bold('▶')} execution ${e.execution}`);
        break;
      case 'StateEntered':
        entered.set(key, e.wallMs);
        failed.delete(key);
        if (e.stateType === 'Wait') output.out(`${indent}${dim('…')} ${e.state} ${sim}`);
        else if (e.stateType === 'Task') output.out(`${indent}${dim('→')} ${e.state} ${sim}`);
        break;
      case 'StateExited': {
        if (
          e.stateType !== 'Task' &&
          e.stateType !== 'Fail' &&
          e.stateType !== 'Succeed' &&
          e.stateType !== 'Pass'
        )
          break;
        // A caught failure already printed its own line; a tick here would read as success.
        if (failed.has(key)) break;
        const took = seconds(e.wallMs - (entered.get(key) ?? e.wallMs));
        const msg = messageOf(e.result);
        output.out(`${indent}${green('✓')} ${e.state} ${dim(took)} ${sim}${msg ? `  ${msg}` : ''}`);
        const plan = (e.result as { plan?: unknown } | undefined)?.plan;
        if (Array.isArray(plan))
          for (const line of plan) output.out(`${indent}    ${dim('·')} ${printable(String(line))}`);
        break;
      }
      case 'StateFailed':
        failed.add(key);
        // A wait for a signal (an alarm, a finished rollout) ends by timing out when none came:
        // the expected path, not a failure.
        if (e.error === 'States.Timeout' && e.stateType === 'Task' && e.state?.startsWith('Wait for')) {
          waitsRunOut.add(key);
          output.out(`${indent}${dim('…')} ${e.state}: nothing signalled, going on ${sim}`);
          break;
        }
        output.out(`${indent}${red('✗')} ${e.state} ${sim}  ${describeFailure(e.error, e.cause)}`);
        break;
      case 'StateRetried':
        output.out(`${indent}${dim('↻')} ${e.state} retried ${sim}`);
        break;
      case 'StateCaught':
        if (waitsRunOut.delete(key)) break;
        output.out(`${indent}${dim('↳')} ${e.state}: failure caught, taking the failure path`);
        break;
      case 'ExecutionSucceeded':
        output.out(
          `${indent.slice(2)}${green('■')} ${e.execution} SUCCEEDED ${dim(seconds(e.wallMs))} ${sim}`,
        );
        break;
      case 'ExecutionFailed':
        output.out(
          `${indent.slice(2)}${red('■')} ${e.execution} FAILED ${describeFailure(e.error, e.cause)} ${sim}`,
        );
        break;
      default:
        break;
    }
  };
}

/**
 * A failure as an operator reads it: `Error: what happened`. Causes arrive as Lambda error JSON
 * or a failed child execution's JSON; `reasonText` unwraps both, and the error name is not
 * repeated when the sentence already starts with it.
 */
export function describeFailure(error: string | undefined, cause: string | undefined): string {
  const text = printable((reasonText(cause ?? '').split('\n')[0] ?? '').trim());
  const name = printable(error ?? 'Error');
  if (!text) return name;
  return text === name || text.startsWith(`${name}:`) ? text : `${name}: ${text}`;
}

/** A one-line summary of a finished local execution. */
export function executionSummary(r: LocalExecutionResult): string {
  const verdict = r.status === 'SUCCEEDED' ? green('SUCCEEDED') : red(r.status);
  const why = r.status === 'SUCCEEDED' ? '' : ` — ${describeFailure(r.error, r.cause)}`;
  return `${printable(r.name)}: ${verdict}${why} (${seconds(r.wallMs)} wall, ${Math.round(r.simSeconds)} s simulated, ${r.transitions} state transitions)`;
}

/** History table rows. */
export function formatRecords(records: readonly DeploymentRecord[]): string[] {
  if (records.length === 0) return ['no deployments or rollbacks recorded yet'];
  const rows = records.map((r) =>
    [
      r.startedAt.replace(/\.\d+Z$/, 'Z'),
      r.kind,
      r.status,
      r.id,
      r.kind === 'deploy'
        ? (r.image.split('/').pop() ?? r.image)
        : `→ revision ${r.revision ?? '?'} (${r.image.split('/').pop()})`,
      `${r.trigger}/${r.requestedBy}`,
      r.canary
        ? `${r.canary.outcome}${r.canary.score !== undefined ? ` ${Math.round(r.canary.score)}` : ''}`
        : '-',
      r.backup ? `${r.backup.snapshotId} (${r.backup.status})` : '-',
      // A rollback's decision says what it restored and why (e.g. the last known-good release).
      [r.reason ?? r.annotation, r.decision, r.holdDecision?.note].filter(Boolean).join('; '),
    ].map((cell) => printable(String(cell))),
  );
  const header = ['STARTED', 'KIND', 'STATUS', 'ID', 'IMAGE', 'BY', 'CANARY', 'BACKUP', 'REASON'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** The lock, in words. */
export function formatLock(lock: LockInfo | undefined, now: Date): string {
  if (!lock) return 'free';
  const expired = Date.parse(lock.expiresAt) <= now.getTime();
  return printable(
    `${expired ? 'expired' : 'held'} by ${lock.holder} since ${lock.acquiredAt} (expires ${lock.expiresAt})`,
  );
}

/**
 * The circuit breaker, in words, naming what it counted: `closed, 1/2 consecutive failed releases:
 * staging-v1-2-0-… (v1.2.0) since …`; open: since when, and what opened it.
 */
export function formatBreaker(b: BreakerState, threshold: number): string {
  const count = `${b.consecutiveFailures}/${threshold} consecutive failed releases`;
  if (b.state === 'open') {
    const since = b.openedAt ?? b.since;
    return `${red('OPEN — deployments blocked')}${since ? ` since ${since}` : ''}, ${count}: ${printable(b.reason ?? countedList(b))}`;
  }
  const list = countedList(b);
  return `${green('closed')}, ${count}${printable(`${list ? `: ${list}` : ''}${b.reason ? `; ${b.reason}` : ''}`)}`;
}

/** A record on one line (status's "last"). */
export function describeRecord(r: DeploymentRecord): string {
  return printable(
    `${r.kind} ${r.id} ${r.status} — ${r.image} (${r.trigger}/${r.requestedBy}, started ${r.startedAt}${r.finishedAt ? `, finished ${r.finishedAt}` : ''})${r.reason ? `: ${r.reason}` : ''}${r.decision ? ` [${r.decision}]` : ''}`,
  );
}

/** A deployment's pre-deployment backup (issue 10), on one line: `backup: <id> available (…)`. */
export function formatBackup(b: BackupMark): string {
  const word =
    b.status === 'available' ? green('available') : b.status === 'failed' ? red('FAILED') : b.status;
  return `backup: ${printable(b.snapshotId)} of ${printable(databaseName(b))} ${word}${b.finishedAt ? ` at ${b.finishedAt}` : ''}${b.detail ? `: ${printable(b.detail)}` : ''}`;
}

/** A canary verdict's word, coloured. */
function canaryWord(outcome: CanaryRecord['outcome']): string {
  if (outcome === 'pass') return green('PASS');
  if (outcome === 'continue') return 'RUNNING';
  if (outcome === 'inconclusive') return paint('33', 'INCONCLUSIVE');
  return red(outcome.toUpperCase());
}

/**
 * A deployment's canary analysis: the verdict and its reason, then one line per metric with its
 * classification and why (`guardian status`, the demo). Shadow metrics are marked as such.
 */
export function formatCanary(c: CanaryRecord): string[] {
  const score = c.score !== undefined ? `score ${Math.round(c.score * 10) / 10}, ` : '';
  const lines = [
    `canary analysis: ${canaryWord(c.outcome)} (${score}round ${c.round} of ${c.rounds}): ${printable(c.reason)}`,
  ];
  const width = Math.max(0, ...c.metrics.map((m) => m.name.length));
  for (const m of c.metrics) {
    const mark = m.classification === 'Pass' ? green('✓') : m.dryRun ? dim('○') : red('✗');
    const tags = [m.critical ? 'critical' : '', m.dryRun ? 'dry run' : ''].filter(Boolean).join(', ');
    lines.push(
      `  ${mark} ${printable(m.name).padEnd(width)}  ${printable(m.classification).padEnd(16)} ${printable(m.reason)}${tags ? dim(` (${tags})`) : ''}`,
    );
  }
  return lines;
}
