/**
 * Every step of the guardian, once: the ports it uses (see `lambdas/ports/table.ts`), the config
 * keys its own code reads, and who invokes it. A step's function gets exactly these ports (IAM,
 * environment, bundle contents, handler wiring) and exactly this config slice; `defineStep` types
 * a step's dependencies from its entry, so code that reaches for anything else does not compile.
 * Pure data: the CDK app, the handlers and the local runner all read it.
 */
import type { EnvironmentConfig } from '../lib/config/schema.ts';
import type { ConfigKey, PortName } from './ports/table.ts';

/** One step's needs. */
export interface StepSpec {
  readonly ports: readonly PortName[];
  /** Config keys the step's own code reads (its ports' keys are added to its slice). */
  readonly config: readonly ConfigKey[];
  /**
   * `task`: a state machine's Task state; `event`: EventBridge invokes it asynchronously (so it gets
   * a dead-letter queue); `url`: a Lambda Function URL invokes it synchronously and the caller sees
   * the answer (no dead-letter queue: a synchronous invocation has none, the caller retries).
   */
  readonly invokedBy: 'task' | 'event' | 'url';
}

/** Config keys every function gets: which environment and platform it serves. */
export const BASE_CONFIG_KEYS = ['name', 'platform'] as const satisfies readonly ConfigKey[];

/**
 * The steps. `record-deployment` and `rollback-finish` take the final revision from the last
 * rollout status the workflow hands them, so neither reads the workload. `execution-ended` is no
 * Task state: EventBridge invokes it when an execution ends.
 */
export const STEPS = {
  preflight: {
    // alarms (issue 8): refuse while the environment's composite alarm is in ALARM.
    ports: ['store', 'workload', 'alarms'],
    config: [
      'image',
      'requireVersionTag',
      'changeFreezes',
      'thresholds',
      'lock',
      'rollout',
      'apiUrl',
      'healthCheck',
      'alarms',
      // The dry-run plan says what the canary analysis will do (issue 9).
      'canary',
      'metrics',
      // The plan and the record name the snapshot the backup step will take (issue 10).
      'backup',
      // Blue-green (issue 11): the plan names the preview's URL.
      'argo',
    ],
    invokedBy: 'task',
  },
  // The pre-deployment backup (issue 10): a snapshot of the environment's database, waited for,
  // then retention.
  backup: { ports: ['store', 'snapshots'], config: ['backup'], invokedBy: 'task' },
  // rollout: the deadline starts when the rollout does (after the backup and the baseline).
  'set-image': { ports: ['workload'], config: ['rollout'], invokedBy: 'task' },
  'rollout-status': { ports: ['workload'], config: [], invokedBy: 'task' },
  // Blue-green (issue 11): "Promote" switches the active Service to the analysed preview; the
  // promotion's wait has its own deadline.
  promote: { ports: ['workload'], config: ['rollout'], invokedBy: 'task' },
  // workload (issue 9): the startup-time check reads the release's pods. argo (issue 11): on a
  // blue-green environment the check before promotion calls the preview Service.
  'health-check': {
    ports: ['http', 'workload'],
    config: ['apiUrl', 'argo', 'healthCheck'],
    invokedBy: 'task',
  },
  'await-signal': { ports: ['store'], config: [], invokedBy: 'task' },
  'monitor-round': {
    // measurements (issue 9): the seed's thresholds on the release's live metrics, every round.
    ports: ['http', 'measurements'],
    config: ['apiUrl', 'healthCheck', 'thresholds', 'monitoring', 'canary'],
    invokedBy: 'task',
  },
  // The canary analysis (issue 9): the metrics baseline before the rollout, then a judged round
  // every interval; an inconclusive analysis opens an incident and starts its escalation.
  'canary-round': {
    ports: ['store', 'measurements', 'workflows'],
    config: ['canary', 'thresholds'],
    invokedBy: 'task',
  },
  'record-deployment': { ports: ['store'], config: ['thresholds'], invokedBy: 'task' },
  'rollback-prepare': { ports: ['store', 'workload'], config: ['lock', 'rollout'], invokedBy: 'task' },
  'rollback-apply': { ports: ['workload'], config: [], invokedBy: 'task' },
  'rollback-finish': { ports: ['store'], config: ['thresholds'], invokedBy: 'task' },
  // workflows (issue 8): a rollback that itself failed opens a P1 and starts its escalation.
  'execution-ended': { ports: ['store', 'workflows'], config: [], invokedBy: 'event' },
  // Escalation (issue 8): page a level on every channel / announce the end; park the task token.
  'escalation-notify': {
    ports: ['store', 'secrets', 'notifier'],
    config: ['region', 'escalation'],
    invokedBy: 'task',
  },
  'escalation-wait': { ports: ['store'], config: [], invokedBy: 'task' },
  // The alarm handler (issue 8): EventBridge delivers CloudWatch alarm state changes.
  'alarm-handler': {
    ports: ['store', 'workflows', 'secrets', 'notifier'],
    config: ['account', 'region', 'service', 'alarms', 'escalation'],
    invokedBy: 'event',
  },
  // Acknowledging in PagerDuty (issue 8): its v3 webhook, through a Function URL, acknowledges or
  // resolves our incident and ends its escalation's wait, as `guardian ack` does.
  'pagerduty-webhook': {
    ports: ['store', 'workflows', 'signingSecret'],
    config: ['escalation'],
    invokedBy: 'url',
  },
} as const satisfies Record<string, StepSpec>;

/** A step id: `lambdas/<id>/handler.ts`, and the `guardian:step` metadata on its function. */
export type StepId = keyof typeof STEPS;
/** Step ids in table order. */
export const STEP_IDS = Object.keys(STEPS) as StepId[];
/**
 * Whether `env`'s stack has `step`'s function: the PagerDuty webhook exists only when its signing
 * secret is configured (`escalation.channels.pagerduty.webhookSecret`), since without it every
 * delivery would be refused; the canary round only in an environment with a canary analysis
 * (`canary`); the backup only in one with a database (`backup.database`); the promotion only on
 * a blue-green platform (`argo-rollouts`); every other step always.
 */
export function stepEnabled(
  step: StepId,
  env: Pick<EnvironmentConfig, 'escalation' | 'canary' | 'backup' | 'platform'>,
): boolean {
  if (step === 'promote') return env.platform === 'argo-rollouts';
  if (step === 'pagerduty-webhook') return env.escalation.channels.pagerduty?.webhookSecret !== undefined;
  if (step === 'canary-round') return env.canary !== undefined;
  if (step === 'backup') return env.backup.database !== 'none';
  return true;
}
/** Steps EventBridge invokes (each gets a dead-letter queue). */
export const EVENT_STEPS = STEP_IDS.filter((s) => STEPS[s].invokedBy === 'event');
/** A step a state machine's Task state invokes. */
export type TaskStepId = {
  [K in StepId]: (typeof STEPS)[K]['invokedBy'] extends 'task' ? K : never;
}[StepId];

/** The ports of `step`. */
export type PortsOf<S extends StepId> = (typeof STEPS)[S]['ports'][number];
/** The config keys `step` gets: its own, the base ones. (Its ports' keys reach only its ports.) */
export type ConfigOf<S extends StepId> =
  | (typeof STEPS)[S]['config'][number]
  | (typeof BASE_CONFIG_KEYS)[number];

/** Metadata key on each Lambda resource naming its step. */
export const STEP_METADATA_KEY = 'guardian:step';
/** Metadata key on each Lambda resource holding the config slice baked into its bundle. */
export const CONFIG_METADATA_KEY = 'guardian:config';
