/** The `guardian` CLI entry point: parse, run, exit with the command's code. */
import { runCli } from '../lib/cli/commands.ts';

process.exitCode = await runCli(process.argv.slice(2));
