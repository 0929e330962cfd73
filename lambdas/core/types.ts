/**
 * Plain data that flows between the workflows' steps and into the store. Schemas validate
 * what crosses an edge (execution input, step events); types come from `z.infer`.
 */
import * as z from 'zod';
import { type BackupMark, plannedBackupSchema } from './backup-phase.ts';
import type { IntervalSample } from './measurements.ts';
import { storableText } from './text.ts';
import { type RollbackPoint, rollbackPointSchema } from './workload.ts';

/**
 * Free text from outside (a reason, an annotation, who asked), stored on one line with control
 * characters escaped: whatever sent it, a record never carries raw terminal controls.
 */
const freeText = () => z.string().min(1).transform(storableText);

/** Who or what may start a deployment or rollback. */
export const triggerSchema = z.enum(['ci', 'operator', 'deploy-failure', 'alarm']);
/** Who or what started a deployment or rollback. */
export type Trigger = z.infer<typeof triggerSchema>;

/** Input of a Deploy execution (what CI or `guardian deploy` sends). */
export const deployInputSchema = z.strictObject({
  environment: z.string().min(1),
  /** Full image reference, `repo:tag` or `repo@sha256:…`. */
  image: z.string().min(1),
  /** Release version (`vX.Y.Z`); required in environments with `requireVersionTag`. */
  version: z.string().min(1).optional(),
  trigger: z.enum(['ci', 'operator']).default('operator'),
  requestedBy: freeText(),
  /** Link to the CI run that started this deployment, kept on the record. */
  ciRunUrl: z
    .url()
    .refine((url) => !/[\s\p{Cc}]/u.test(url), 'must not contain whitespace or control characters')
    .optional(),
  /** Run preflight only and return the plan; nothing changes. */
  dryRun: z.boolean().default(false),
});
/** Input of a Deploy execution. */
export type DeployInput = z.infer<typeof deployInputSchema>;

/** Input of a Rollback execution (deploy failure, alarm, or operator). */
export const rollbackInputSchema = z.strictObject({
  environment: z.string().min(1),
  /**
   * The deployment being undone. Its own automatic rollback restores the state it captured; any
   * other (an alarm's) goes to the last known-good release before it.
   */
  deploymentId: z.string().min(1).optional(),
  /**
   * Operator-named revision of the workload. Default: the last known-good release (the newest
   * deployment that succeeded and was not rolled back), never one the guardian rolled back.
   */
  revision: z.number().int().positive().optional(),
  /** With `revision`: restore it even if the guardian rolled its release back as bad (`--force`). */
  force: z.boolean().default(false),
  /** Why: recorded on the record and as the Deployment's change-cause annotation. */
  reason: freeText().default('rollback requested'),
  /** Free-text annotation from the operator (`--annotate`). */
  annotate: freeText().optional(),
  trigger: triggerSchema.default('operator'),
  requestedBy: freeText().default('guardian'),
  /** Set by Step Functions when a Deploy execution starts this one (links them in the console). */
  AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: z.string().min(1).optional(),
});
/** Input of a Rollback execution. */
export type RollbackInput = z.infer<typeof rollbackInputSchema>;

/** The Step Functions context object's `Execution` part, passed to steps that record. */
export const executionRefSchema = z.looseObject({
  Id: z.string().min(1),
  Name: z.string().min(1),
  StartTime: z.string().optional(),
});
/** Identity of the running execution. */
export type ExecutionRef = z.infer<typeof executionRefSchema>;

/** What a rollout step needs to know about the workload it watches (deploy or rollback). */
export const rolloutTargetSchema = z.looseObject({
  environment: z.string().min(1),
  /** The workload as an operator names it, e.g. `deployment "staging/buywhere-api"`. */
  workload: z.string().min(1),
  /** The image the rollout should end on. */
  expectedImage: z.string().min(1),
  /** When the guardian gives up waiting (ISO time): start + the environment's deadline. */
  rolloutDeadlineAt: z.iso.datetime({ offset: true }),
});
/** What a rollout step needs to know about the workload it watches. */
export type RolloutTarget = z.infer<typeof rolloutTargetSchema>;

/** Output of "Preflight checks": the deployment's context, carried as `$.deployment`. */
export const deploymentContextSchema = rolloutTargetSchema.extend({
  deploymentId: z.string().min(1),
  executionArn: z.string().min(1),
  image: z.string().min(1),
  version: z.string().optional(),
  /** The state preflight captured: what a rollback of this deployment restores. */
  rollbackPoint: rollbackPointSchema,
  startedAt: z.iso.datetime({ offset: true }),
  dryRun: z.boolean(),
  /** Human-readable plan / checks, one line each (printed by `--dry-run`). */
  plan: z.array(z.string()),
  /** The snapshot taken before the rollout (issue 10); absent without a database. */
  backup: plannedBackupSchema.optional(),
});
/** The deployment's context, carried through the Deploy workflow as `$.deployment`. */
export type DeploymentContext = z.infer<typeof deploymentContextSchema>;

/** Output of "Prepare rollback": carried through the Rollback workflow as `$.rollback`. */
export const rollbackContextSchema = rolloutTargetSchema.extend({
  rollbackId: z.string().min(1),
  executionArn: z.string().min(1),
  deploymentId: z.string().optional(),
  /** The state before this rollback (what it moves away from). */
  from: rollbackPointSchema,
  /** The state this rollback restores. */
  to: rollbackPointSchema,
  /** The image of the deployment being undone, if any (what the breaker counts as a failed release). */
  deploymentImage: z.string().optional(),
  /** What is restored and why, one line each, as the operator reads it (printed by the CLI). */
  plan: z.array(z.string()).optional(),
  reason: z.string(),
  annotate: z.string().optional(),
  trigger: triggerSchema,
  requestedBy: z.string(),
  /** Who holds the environment lock for this rollback (its deployment, or the rollback itself). */
  lockHolder: z.string().min(1),
  startedAt: z.iso.datetime({ offset: true }),
});
/** The rollback's context, carried through the Rollback workflow as `$.rollback`. */
export type RollbackContext = z.infer<typeof rollbackContextSchema>;

/** A step failure as Step Functions' Catch hands it on (`ResultPath: $.failure`). */
export const failureSchema = z.looseObject({ Error: z.string(), Cause: z.string().optional() });
/** A step failure as Step Functions' Catch hands it on. */
export type Failure = z.infer<typeof failureSchema>;

/** Phase of a rollout as the guardian judges it. */
export type RolloutPhase = 'progressing' | 'complete' | 'failed';

/** Output of the rollout-status step (`$.rollout`). */
export interface RolloutStatus {
  readonly phase: RolloutPhase;
  /** Operator-facing sentence, e.g. "2 of 3 updated replicas are available". */
  readonly message: string;
  readonly revision: number;
  readonly replicas: number;
  readonly updatedReplicas: number;
  readonly readyReplicas: number;
  readonly availableReplicas: number;
  readonly checkedAt: string;
}

/** One check made by the enhanced health check. */
export interface HealthCheckResult {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  /** Not evaluated (nothing to read it from): neither passed nor failed; `ok` is false. */
  readonly skipped?: true;
}

/** Output of the health-check step (`$.health`) when it passes. */
export interface HealthReport {
  readonly healthy: boolean;
  readonly checks: readonly HealthCheckResult[];
  readonly summary: string;
  readonly checkedAt: string;
}

/** Terminal and running states of a deployment or rollback record. */
export type RecordStatus = 'in-progress' | 'succeeded' | 'rolled-back' | 'rollback-failed' | 'failed';

/** One deployment or rollback, as kept in the Deployments table (history, audit, rollback state). */
export interface DeploymentRecord {
  readonly environment: string;
  /** Deployment id = execution name for deploys; rollback id for rollbacks. */
  readonly id: string;
  readonly kind: 'deploy' | 'rollback';
  readonly status: RecordStatus;
  readonly executionArn: string;
  readonly trigger: Trigger;
  readonly requestedBy: string;
  readonly ciRunUrl?: string;
  /** Image this record moved the workload to. */
  readonly image: string;
  readonly version?: string;
  /** The state captured before the change (platform-tagged): what undoing this record restores. */
  readonly rollbackPoint: RollbackPoint;
  /** Revision the workload ended on (known once the rollout completes). */
  readonly revision?: number;
  /** For rollbacks: the deployment undone, if any. */
  readonly deploymentId?: string;
  /** For deploys that were rolled back: the rollback's id. */
  readonly rolledBackBy?: string;
  readonly reason?: string;
  /** For rollbacks: what was restored and why (e.g. "restoring … the last known-good release …"). */
  readonly decision?: string;
  readonly annotation?: string;
  readonly startedAt: string;
  readonly finishedAt?: string;
  /**
   * While a deploy waits (for its rollout, or for its next post-deployment monitoring round): the
   * Step Functions task token an alarm fails to end the wait at once, and which phase it is.
   */
  readonly signal?: DeploymentSignal;
  /** The critical alarm that failed this deployment (set by the alarm handler, read at every wait). */
  readonly alarm?: AlarmMark;
  /** An operator's decision on the release its canary analysis held (issue 9). */
  readonly holdDecision?: HoldDecisionMark;
  /** The canary analysis: its latest verdict, every metric's classification and the measurements. */
  readonly canary?: CanaryRecord;
  /** The pre-deployment database snapshot (issue 10): its id, from preflight on, and how it went. */
  readonly backup?: BackupMark;
}

/** One metric's classification, as the record keeps it (lambdas/core/judge). */
export interface CanaryMetricRecord {
  readonly name: string;
  /** Pass | High | Low | Nodata | NodataFailMetric | Error (Kayenta's words). */
  readonly classification: string;
  /** Why, in the operator's words. */
  readonly reason: string;
  readonly critical?: boolean;
  /** A shadow metric: recorded, never deciding. */
  readonly dryRun?: boolean;
  readonly estimate?: number | null;
  readonly lowerCI?: number | null;
  readonly upperCI?: number | null;
  readonly effectSize?: number | null;
}

/** The canary analysis of a deployment, as its record keeps it (rewritten every round). */
export interface CanaryRecord {
  /** continue: still running; the rest are verdicts. */
  readonly outcome: 'continue' | 'pass' | 'marginal' | 'fail' | 'inconclusive';
  readonly score?: number;
  readonly reason: string;
  readonly round: number;
  readonly rounds: number;
  /** When this verdict was reached. */
  readonly at: string;
  /** The incident an inconclusive analysis opened. */
  readonly incidentId?: string;
  readonly metrics: readonly CanaryMetricRecord[];
  /** What was measured: each side's interval samples (the newest, bounded). */
  readonly samples?: {
    readonly baselineVersion?: string;
    readonly baseline: readonly IntervalSample[];
    readonly canary: readonly IntervalSample[];
  };
}

/** Who decided what about a held release, and when. */
export interface HoldDecisionMark {
  readonly decision: 'approve' | 'reject';
  readonly by: string;
  readonly at: string;
  readonly note: string;
}

/**
 * The waits of a deploy that a signal can end: the rollout poll, the canary analysis's interval,
 * post-deployment monitoring's interval, and the hold of an inconclusive canary analysis (an
 * operator's decision ends it; its deadline rolls back).
 */
export const SIGNAL_PHASES = ['rollout', 'canary', 'monitoring', 'hold'] as const;
/** One of {@link SIGNAL_PHASES}. */
export type SignalPhase = (typeof SIGNAL_PHASES)[number];

/** The wait a deploy is in, and the task token that ends it. */
export interface DeploymentSignal {
  readonly token: string;
  readonly phase: SignalPhase;
  readonly since: string;
}

/** A critical alarm recorded on the deployment it fails. */
export interface AlarmMark {
  readonly name: string;
  readonly reason: string;
  readonly at: string;
  /** The EventBridge event that carried it. */
  readonly eventId?: string;
}

/** The per-environment lock. */
export interface LockInfo {
  readonly environment: string;
  /** Deployment or rollback id holding it. */
  readonly holder: string;
  readonly executionArn: string;
  readonly acquiredAt: string;
  readonly expiresAt: string;
}

/** One failure the circuit breaker counted: a failed release, or a rollback that failed or never finished. */
export interface CountedFailure {
  /** The deployment that failed (or the rollback / execution, when no deployment is known). */
  readonly id: string;
  /** Its image, when known. */
  readonly image?: string;
  /** When it was counted. */
  readonly at: string;
}

/** The per-environment circuit breaker (runbook: "Circuit Breaker Pattern"). */
export interface BreakerState {
  readonly environment: string;
  readonly state: 'closed' | 'open';
  readonly consecutiveFailures: number;
  /** What was counted in the current streak, oldest first (the newest ones, at most the threshold). */
  readonly counted?: readonly CountedFailure[];
  /** When the current streak's first failure was counted (absent while the count is 0). */
  readonly since?: string;
  /** When it opened (absent while closed). */
  readonly openedAt?: string;
  readonly reason?: string;
  readonly updatedAt?: string;
  /** Id of the last deployment/rollback counted, so a retried step does not count twice. */
  readonly lastEventId?: string;
  /** Write version kept by the store for optimistic concurrency (absent until first written). */
  readonly version?: number;
}

/** An ad-hoc change freeze set by an operator. */
export interface AdHocFreeze {
  readonly environment: string;
  readonly id: string;
  readonly start: string;
  readonly end: string;
  readonly reason: string;
  readonly createdBy: string;
}
