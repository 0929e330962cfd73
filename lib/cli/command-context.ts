/**
 * What the commands in modules of their own (argo, backup, canary, health) borrow from
 * commands.ts: the config lookup, the local runner and who is asking. Types only.
 */
import type { EnvironmentConfig, GuardianConfig } from '../config/schema.ts';
import type { LocalGuardian } from '../local/guardian.ts';
import type { ParsedArgs } from './args.ts';
import type { Output } from './format.ts';

/** Runs `fn` with the local runner, as every `--local` command does (commands.ts). */
export type WithLocal = <T>(
  args: ParsedArgs,
  config: GuardianConfig,
  output: Output,
  fn: (g: LocalGuardian) => Promise<T>,
  extra?: { readonly advanceWhenIdle?: boolean; readonly deferEscalations?: boolean },
) => Promise<T>;

/** commands.ts's helpers, handed to a command group. */
export interface CommandContext {
  readonly environmentOf: (config: GuardianConfig, name: string) => Promise<EnvironmentConfig>;
  readonly withLocal: WithLocal;
  readonly whoAmI: (args: ParsedArgs) => string;
}
