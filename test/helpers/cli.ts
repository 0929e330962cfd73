/** Runs the real `guardian` CLI as an operator does: a child process, its exit code and output. */
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's `bin/guardian.js`. */
export const GUARDIAN_BIN = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../bin/guardian.js',
);

/** How one CLI run ended. */
export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `guardian argv` from the temp folder without colours, feeding `stdin` (empty by default);
 * rejects if it has not ended within `timeoutMs` (and kills it).
 */
export function runGuardian(
  argv: readonly string[],
  options: { readonly stdin?: string; readonly timeoutMs?: number; readonly env?: NodeJS.ProcessEnv } = {},
): Promise<CliRun> {
  const timeoutMs = options.timeoutMs ?? 90_000;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [GUARDIAN_BIN, ...argv], {
      cwd: tmpdir(),
      env: { ...process.env, NO_COLOR: '1', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`guardian ${argv.join(' ')} did not end within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? '');
  });
}
