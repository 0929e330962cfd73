/**
 * A load of alarm events for the real `alarm-handler` step, shared by `npm run bench` (throughput)
 * and test/local/alarm-load.test.ts (exactly one rollback per release). The step runs with its
 * ports built as the local runner builds them (`buildStepDeps`, local mode): its store on
 * dynalite, its notifier on a loopback receiver, and a Workflows double that only counts the
 * executions started by name. What is measured is the handler (parse, dedupe, read, decide, claim,
 * carry out), not Step Functions: Rollback and Escalation executions are counted, never run.
 *
 * Each release is the promoted release of its own environment (a clone of staging named
 * `<prefix>-<k>`, its alarms `guardian-<prefix>-<k>-<Name>`), with its records as a promoted
 * deploy leaves them, so the releases of one load do not take each other's place as "promoted
 * last" and every one of them must be rolled back exactly once.
 */
import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { step as alarmHandler } from '../../lambdas/alarm-handler/handler.ts';
import {
  DEGRADED_ALARM_ID,
  guardianAlarmName,
  METRIC_ALARM_IDS,
  METRIC_ALARMS,
} from '../../lambdas/core/alarm-catalog.ts';
import type { Clock, StartableWorkflow, Workflows } from '../../lambdas/core/ports.ts';
import type { DeploymentRecord } from '../../lambdas/core/types.ts';
import { ENV_VARS } from '../../lambdas/ports/table.ts';
import type { StepDeps } from '../../lambdas/shared/step.ts';
import { buildStepDeps, configSlice } from '../../lambdas/shared/wiring.ts';
import type { EnvironmentConfig } from '../../lib/config/schema.ts';
import { alarmFixture } from './alarm-events.ts';
import type { LocalDynamo } from './dynalite.ts';

/** The shape of one load. */
export interface AlarmLoadShape {
  /** Releases, one per environment, each promoted a minute ago. */
  readonly releases: number;
  /** Distinct critical alarms firing for each release (up to 5: the four critical metric alarms and Degraded). */
  readonly alarmsPerRelease: number;
  /** Deliveries of each alarm event (EventBridge delivers at least once): 1 = no duplicates. */
  readonly deliveries: number;
  /** Handler invocations in flight at once. */
  readonly concurrency: number;
}

/** What a load did. */
export interface AlarmLoadResult {
  /** Events handed to the handler. */
  readonly events: number;
  /** Wall time from the first invocation to the last answer. */
  readonly wallMs: number;
  /** `workflows.start('rollback', …)` calls per release record id (every release is listed, 0 included). */
  readonly rollbacksPerRelease: ReadonlyMap<string, number>;
  /** Escalation starts per execution name. */
  readonly escalationStarts: ReadonlyMap<string, number>;
  /** Handler results by action. */
  readonly actions: Readonly<Record<string, number>>;
  /** Invocations that threw, with their messages: each was handed over again, as EventBridge retries. */
  readonly errors: readonly string[];
  /** Events still failing after {@link MAX_ATTEMPTS} attempts (EventBridge would dead-letter them). */
  readonly failed: number;
}

/** The critical alarms of the guardian's catalogue an environment can fire, in catalogue order. */
export const CRITICAL_ALARM_IDS = [
  ...METRIC_ALARM_IDS.filter((id) => METRIC_ALARMS[id].severity === 'critical'),
  DEGRADED_ALARM_ID,
] as const;

/** Attempts per event before it counts as failed (EventBridge's retries, kept short). */
export const MAX_ATTEMPTS = 3;

const REPO = 'ghcr.io/buywhere/buywhere-api';
const cwTime = (d: Date) => d.toISOString().replace('Z', '+0000');

/** A real-format ALARM state change of `guardian-<environment>-<id>`, retargeted from its fixture. */
export function criticalAlarmEvent(
  environment: string,
  id: (typeof CRITICAL_ALARM_IDS)[number],
  at: Date,
): Record<string, unknown> {
  const e = alarmFixture(
    id === DEGRADED_ALARM_ID ? 'guardian-degraded-alarm' : 'guardian-high-error-rate-alarm',
  );
  const alarmName = guardianAlarmName(environment, id);
  const detail = e.detail as Record<string, unknown> & { state: Record<string, unknown> };
  e.id = randomUUID();
  e.time = at.toISOString().replace(/\.\d+Z$/, 'Z');
  e.resources = [`arn:aws:cloudwatch:${e.region}:${e.account}:alarm:${alarmName}`];
  detail.alarmName = alarmName;
  detail.alarmTags = { environment, service: 'buywhere-api', severity: 'critical' };
  detail.state = { ...detail.state, timestamp: cwTime(at) };
  return e;
}

/** The pod template a Deployment of `image` has (as the Kubernetes adapter captures it). */
function podTemplate(image: string): Record<string, unknown> {
  return {
    metadata: { labels: { app: 'buywhere-api' } },
    spec: {
      containers: [
        {
          name: 'buywhere-api',
          image,
          imagePullPolicy: 'IfNotPresent',
          ports: [{ containerPort: 8000, protocol: 'TCP' }],
          resources: {},
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
        },
      ],
      dnsPolicy: 'ClusterFirst',
      restartPolicy: 'Always',
      schedulerName: 'default-scheduler',
      securityContext: {},
      terminationGracePeriodSeconds: 30,
    },
  };
}

/**
 * The records a promoted deploy of `v1.1.0` leaves in `environment` (its Deploy execution
 * succeeded a minute before `now`, after the day-old `v1.0.0` release), as the Deploy workflow
 * writes them: revisions, rollback point with its pod template, the last monitoring wait's signal.
 */
export function promotedReleaseRecords(environment: string, now: Date): DeploymentRecord[] {
  const at = (secondsAgo: number) => new Date(now.getTime() - secondsAgo * 1000).toISOString();
  const record = (tag: string, revision: number, finishedSecondsAgo: number, before: string) => {
    const id = `${environment}-${tag.replaceAll('.', '-')}-${randomUUID().slice(0, 8)}`;
    return {
      environment,
      id,
      kind: 'deploy',
      status: 'succeeded',
      executionArn: `arn:aws:states:ap-southeast-1:000000000000:execution:guardian-${environment}-deploy:${id}`,
      trigger: 'ci',
      requestedBy: 'github-actions',
      image: `${REPO}:${tag}`,
      version: tag,
      rollbackPoint: {
        platform: 'kubernetes',
        revision: revision - 1,
        image: `${REPO}:${before}`,
        podTemplate: podTemplate(`${REPO}:${before}`),
      },
      revision,
      startedAt: at(finishedSecondsAgo + 640),
      signal: { token: randomUUID(), phase: 'monitoring', since: at(finishedSecondsAgo + 30) },
      finishedAt: at(finishedSecondsAgo),
    } satisfies DeploymentRecord;
  };
  return [record('v1.0.0', 2, 86_400, 'v0.9.0'), record('v1.1.0', 3, 60, 'v1.0.0')];
}

/** Counts executions started by name; Step Functions' "a name runs once" is what `started` reports. */
class CountingWorkflows implements Workflows {
  readonly starts = new Map<string, number>();
  readonly inputs = new Map<string, unknown>();

  constructor(private readonly kind: StartableWorkflow) {}

  async start(kind: StartableWorkflow, name: string, input: unknown) {
    if (kind !== this.kind) throw new Error(`a ${this.kind} counter was asked to start ${kind} ${name}`);
    const n = (this.starts.get(name) ?? 0) + 1;
    this.starts.set(name, n);
    this.inputs.set(name, input);
    return {
      executionArn: `arn:aws:states:ap-southeast-1:000000000000:execution:guardian-${kind}:${name}`,
      started: n === 1,
    };
  }

  async failTask(): Promise<boolean> {
    return false;
  }

  async succeedTask(): Promise<boolean> {
    return false;
  }
}

/** Powertools Metrics that keeps nothing (the local runner's LocalMetrics): no EMF lines on stdout. */
class SilentMetrics extends Metrics {
  constructor() {
    super({ namespace: 'DeploymentGuardianLoad', serviceName: 'deployment-guardian' });
  }

  override publishStoredMetrics(): this {
    this.clearMetrics();
    this.clearDimensions();
    return this;
  }
}

/** Where the handler's ports lead. */
export interface AlarmLoadContext {
  readonly db: LocalDynamo;
  /** Staging's config, cloned per release environment. */
  readonly staging: EnvironmentConfig;
  readonly clock: Clock;
  /** Secret values (the Slack webhook on a loopback receiver); none = the channel reports its secret missing. */
  readonly secrets?: Readonly<Record<string, string>>;
}

/** Shuffles in place, deterministically for a seed (a small LCG: the order must not depend on the run). */
function shuffle<T>(xs: T[], seed: number): T[] {
  let s = seed >>> 0 || 1;
  for (let i = xs.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    const j = s % (i + 1);
    [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
  }
  return xs;
}

/**
 * Puts `shape.releases` promoted releases in environments `<prefix>-<k>`, builds one alarm-handler
 * per environment (as one Lambda per stack), hands it the shuffled events with duplicates,
 * `shape.concurrency` at a time, and counts what it started. `prefix` must be new for each load
 * (the event ids and records of an earlier load stay in the tables).
 */
export async function runAlarmLoad(
  ctx: AlarmLoadContext,
  shape: AlarmLoadShape,
  prefix: string,
  seed = 1,
): Promise<AlarmLoadResult> {
  if (shape.alarmsPerRelease < 1 || shape.alarmsPerRelease > CRITICAL_ALARM_IDS.length) {
    throw new RangeError(`alarmsPerRelease must be 1..${CRITICAL_ALARM_IDS.length}`);
  }
  const rollbacks = new CountingWorkflows('rollback');
  const escalations = new CountingWorkflows('escalation');
  const workflows: Workflows = {
    start: (kind, name, input) => (kind === 'rollback' ? rollbacks : escalations).start(kind, name, input),
    failTask: async () => false,
    succeedTask: async () => false,
  };
  const logger = new Logger({ serviceName: 'deployment-guardian', logLevel: 'SILENT' });
  const now = ctx.clock.now();
  const releaseIds: string[] = [];
  const handlers: ((event: unknown) => Promise<unknown>)[] = [];
  const events: { handler: number; event: Record<string, unknown>; attempt: number }[] = [];
  for (let k = 0; k < shape.releases; k++) {
    const name = `${prefix}-${k}`;
    const config: EnvironmentConfig = { ...ctx.staging, name };
    const records = promotedReleaseRecords(name, now);
    for (const r of records) await ctx.db.store.putRecord(r);
    releaseIds.push((records.at(-1) as DeploymentRecord).id);
    const deps: StepDeps<'alarm-handler'> = await buildStepDeps(
      'alarm-handler',
      {
        config: configSlice('alarm-handler', config) as EnvironmentConfig,
        vars: {
          [ENV_VARS.deploymentsTable]: ctx.db.tables.deploymentsTable,
          [ENV_VARS.controlTable]: ctx.db.tables.controlTable,
        },
        clock: ctx.clock,
      },
      {
        kind: 'local',
        context: {
          dynamo: ctx.db.doc,
          kubernetes: async () => {
            throw new Error('the alarm handler never calls the cluster');
          },
          clock: ctx.clock,
          workflows,
          secrets: ctx.secrets ?? {},
          snsPublish: async () => undefined,
        },
      },
      { clock: ctx.clock, logger, metrics: new SilentMetrics() },
    );
    handlers.push((event) => alarmHandler.run(event, deps));
    for (const id of CRITICAL_ALARM_IDS.slice(0, shape.alarmsPerRelease)) {
      const event = criticalAlarmEvent(name, id, now);
      for (let d = 0; d < shape.deliveries; d++)
        events.push({ handler: k, event: structuredClone(event), attempt: 1 });
    }
  }
  shuffle(events, seed);

  const actions: Record<string, number> = {};
  const errors: string[] = [];
  let failed = 0;
  const total = events.length;
  // A queue the workers take from; a failed invocation goes to its end again (EventBridge's retry).
  const queue = [...events];
  const worker = async () => {
    for (let item = queue.shift(); item; item = queue.shift()) {
      try {
        const handle = handlers[item.handler] as (e: unknown) => Promise<{ action: string }>;
        const result = await handle(item.event);
        actions[result.action] = (actions[result.action] ?? 0) + 1;
      } catch (err) {
        errors.push(`${(err as Error).name}: ${(err as Error).message}`);
        if (item.attempt < MAX_ATTEMPTS) queue.push({ ...item, attempt: item.attempt + 1 });
        else failed++;
      }
    }
  };
  const t = performance.now();
  await Promise.all(Array.from({ length: Math.min(shape.concurrency, queue.length) }, worker));
  const wallMs = performance.now() - t;

  const rollbacksPerRelease = new Map<string, number>();
  for (const id of releaseIds) rollbacksPerRelease.set(id, 0);
  for (const [name, n] of rollbacks.starts) {
    const input = rollbacks.inputs.get(name) as { deploymentId?: string } | undefined;
    const id = input?.deploymentId ?? name;
    rollbacksPerRelease.set(id, (rollbacksPerRelease.get(id) ?? 0) + n);
  }
  return {
    events: total,
    wallMs,
    rollbacksPerRelease,
    escalationStarts: escalations.starts,
    actions,
    errors,
    failed,
  };
}
