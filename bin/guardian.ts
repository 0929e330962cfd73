/** The `guardian` CLI entry point: parse, run, exit with the command's code. */
import { jsonRequested } from '../lib/cli/args.ts';
import { processOutput, reservedStdoutOutput } from '../lib/cli/format.ts';
import { reportError } from '../lib/cli/report.ts';

const argv = process.argv.slice(2);
const json = jsonRequested(argv);
// With --json, stdout carries the command's one document and nothing a library prints.
const stdio = json ? reservedStdoutOutput() : processOutput;
let wrote = false;
const output = {
  out: (line: string) => {
    wrote = true;
    stdio.out(line);
  },
  err: stdio.err,
};
// Whatever escapes a command (a crash in a server it started) is still reported the CLI's way,
// without a second document after the one already written.
const fatal = (err: unknown) => {
  if ((err as NodeJS.ErrnoException | null)?.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  // A crash outside any command is a bug: keep its stack for the report.
  // A state error (a damaged or deleted local state folder) is a sentence, not a bug.
  if (err instanceof Error && err.stack && err.name !== 'LocalStateError') stdio.err(err.stack);
  process.exitCode = reportError(err, wrote ? { out: stdio.err, err: stdio.err } : output, json);
  process.exit();
};
// A reader that stops early (`guardian status | head -3`) closes the pipe: what it did not read
// is not wanted, which is no error (as for any Unix tool: exit quietly, no stack trace).
const closedPipe = (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(process.exitCode ?? 0);
};
process.stdout.on('error', closedPipe);
process.stderr.on('error', closedPipe);
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);
try {
  const { runCli } = await import('../lib/cli/commands.ts');
  process.exitCode = await runCli(argv, output);
} catch (err) {
  process.exitCode = reportError(err, output, json);
}
