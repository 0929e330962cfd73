/**
 * Builds the guardian's CDK app: one stack per configured environment. Shared by `bin/app.ts`,
 * the infrastructure tests and the local runner (which synthesizes without bundling).
 */
import { App } from 'aws-cdk-lib';
import type { GuardianConfig } from './config/schema.ts';
import { pascalCase } from './constructs/step-function.ts';
import { applyNag } from './nag.ts';
import { GuardianStack } from './stacks/guardian-stack.ts';

/** Options of {@link buildApp}. */
export interface BuildAppOptions {
  /** The loaded configuration (see `loadConfig`). */
  readonly config: GuardianConfig;
  /**
   * Bundle the Lambda handlers with esbuild. Off, the template is the same but the code assets
   * are placeholders: fine for tests and the local runner, not for deployment.
   * @default true
   */
  readonly bundle?: boolean;
  /**
   * Cloud assembly directory.
   * @default a temporary directory (or `cdk.out` under the CDK CLI)
   */
  readonly outdir?: string;
  /**
   * Run cdk-nag (AwsSolutions + Serverless) during synthesis; unacknowledged findings fail it.
   * @default true
   */
  readonly nag?: boolean;
  /**
   * Folder holding `<step>/handler.ts`.
   * @default the repository's `lambdas/`
   */
  readonly handlersDir?: string;
}

/** The app and its stacks by environment name. */
export interface GuardianApp {
  readonly app: App;
  /** Stacks by environment name (`staging`, `production`, ...). */
  readonly stacks: Record<string, GuardianStack>;
}

/** `staging` -> `GuardianStaging`. */
export function stackNameOf(environment: string): string {
  return `Guardian${pascalCase(environment)}`;
}

/** Builds the app with one `Guardian<Env>` stack per environment in `config`. */
export function buildApp(opts: BuildAppOptions): GuardianApp {
  const app = new App({
    ...(opts.outdir ? { outdir: opts.outdir } : {}),
    // Must be in place before any NodejsFunction exists: bundling is decided at construction.
    ...(opts.bundle === false ? { context: { 'aws:cdk:bundling-stacks': [] } } : {}),
  });
  const account = process.env.CDK_DEFAULT_ACCOUNT;
  const stacks: Record<string, GuardianStack> = {};
  for (const [name, environment] of Object.entries(opts.config.environments)) {
    const stackConfig = opts.config.stacks[name];
    if (!stackConfig) {
      throw new Error(
        `buildApp: environment '${name}' has no stack config (alarmTopic, retention) in config.stacks`,
      );
    }
    stacks[name] = new GuardianStack(app, stackNameOf(name), {
      environment,
      alarmTopic: stackConfig.alarmTopic,
      retention: stackConfig.retention,
      env: { region: environment.region, ...(account ? { account } : {}) },
      description: `Deployment Guardian for ${name}: deploy and rollback workflows (${environment.cluster})`,
      ...(opts.handlersDir ? { handlersDir: opts.handlersDir } : {}),
    });
  }
  if (opts.nag !== false) applyNag(app, Object.values(stacks));
  return { app, stacks };
}
