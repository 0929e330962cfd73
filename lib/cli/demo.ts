/**
 * `guardian demo` (what `npm start` runs): the whole guardian, here, on a fresh state of its
 * own. A good release to staging succeeds; a bad one fails its health check and is rolled back
 * automatically; a release whose HighErrorRate alarm fires after it was promoted is rolled back by
 * the alarm handler, which opens an incident; its escalation pages on-call, then the DevOps lead
 * after 10 simulated minutes, and stops when someone acknowledges. PagerDuty and Slack are
 * recorders on loopback. Exits 0 only if everything behaved as the runbook says it should.
 */
import { randomBytes } from 'node:crypto';
import { breakerReset } from '../../lambdas/core/breaker.ts';
import { deployExecutionName } from '../../lambdas/core/naming.ts';
import type { DeploymentRecord } from '../../lambdas/core/types.ts';
import { environmentOf } from '../config/load.ts';
import type { EnvironmentConfig, GuardianConfig } from '../config/schema.ts';
import { alarmStateChangeEvent } from '../local/alarm-events.ts';
import { type ChannelRecorder, startChannelRecorder } from '../local/channel-recorder.ts';
import type { SimulatedClock } from '../local/clock.ts';
import { LocalGuardian } from '../local/guardian.ts';
import {
  bold,
  dim,
  executionSummary,
  formatBackup,
  formatBreaker,
  formatCanary,
  green,
  jsonDocument,
  type Output,
  progressPrinter,
  red,
  toStderr,
} from './format.ts';

/** One expectation the demo checks, and whether it held. */
interface Check {
  readonly what: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** The environment it deploys to. @default 'staging' */
  readonly environment?: string;
  /** Print progress on stderr and one JSON document (the checks) on stdout. @default false */
  readonly json?: boolean;
}

/** Runs the demo; returns the exit code. */
export async function runDemo(
  config: GuardianConfig,
  stdout: Output,
  options: DemoOptions = {},
): Promise<number> {
  const env = environmentOf(config, options.environment ?? 'staging');
  const output = options.json ? toStderr(stdout) : stdout;
  const stable = `${env.image}:v1.4.2`;
  const good = `${env.image}:v1.5.0`;
  const bad = `${env.image}:v1.6.0-bad`;
  const started = performance.now();
  output.out(bold('Deployment Guardian demo'));
  output.out(
    dim(
      `Local runner: the synthesized ${env.name} state machines, real step handlers, dynalite, the embedded cluster simulator\n` +
        `and a demo API whose health follows the deployed image. Waits run on a simulated clock.`,
    ),
  );
  const recorder = await startChannelRecorder();
  const channels = env.escalation.channels;
  const guardian = await LocalGuardian.start({
    config: demoConfig(config),
    seedImages: Object.fromEntries(Object.keys(config.environments).map((name) => [name, stable])),
    onEvent: progressPrinter(output),
    // Secrets Manager's answers, locally: PagerDuty's routing key and Slack's webhook (the recorder).
    secrets: {
      ...(channels.pagerduty
        ? { [channels.pagerduty.routingKeySecret]: 'demo0routing0key0000000000000000' }
        : {}),
      ...(channels.slack ? { [channels.slack.webhookSecret]: `${recorder.url}/slack` } : {}),
    },
    pagerdutyEventsUrl: `${recorder.url}/pagerduty`,
  });
  const checks: Check[] = [];
  const check = (what: string, ok: boolean, detail: string) => checks.push({ what, ok, detail });
  try {
    const workload = await guardian.workload(env.name);
    const imageNow = async () => (await workload.observe()).image;

    output.out('');
    output.out(bold(`1. Deploy a good release: ${good}`));
    const first = await guardian.deploy(
      { environment: env.name, image: good, trigger: 'operator', requestedBy: 'demo' },
      deployExecutionName(env.name, 'v1.5.0', randomBytes(4).toString('hex')),
    );
    output.out(executionSummary(first));
    check('good release succeeded', first.status === 'SUCCEEDED', first.status);
    const afterGood = await imageNow();
    check('cluster runs the good release', afterGood === good, `${afterGood}`);
    const firstRecord = await guardian.store(env.name).getRecord(env.name, first.name);
    if (firstRecord?.backup) {
      output.out(`   ${formatBackup(firstRecord.backup)}`);
      check(
        'database snapshot taken before the rollout',
        firstRecord.backup.status === 'available',
        firstRecord.backup.snapshotId,
      );
    }

    output.out('');
    output.out(bold(`2. Deploy a bad release: ${bad} (its API answers /health with 503)`));
    const second = await guardian.deploy(
      { environment: env.name, image: bad, trigger: 'operator', requestedBy: 'demo' },
      deployExecutionName(env.name, 'v1.6.0-bad', randomBytes(4).toString('hex')),
    );
    output.out(executionSummary(second));
    check(
      'bad release failed and was rolled back',
      second.status === 'FAILED' && second.error === 'DeploymentRolledBack',
      `${second.status} ${second.error ?? ''}`,
    );
    const afterBad = await imageNow();
    check('cluster is back on the good release', afterBad === good, `${afterBad}`);

    const store = guardian.store(env.name);
    const records = await store.listRecords(env.name, 10);
    const badRecord = records.find((r) => r.kind === 'deploy' && r.image === bad);
    check(
      'bad deployment recorded as rolled back',
      badRecord?.status === 'rolled-back',
      `${badRecord?.status}`,
    );
    const rollbackRecord = records.find((r) => r.kind === 'rollback');
    check(
      'rollback recorded with its reason',
      rollbackRecord?.status === 'rolled-back' && Boolean(rollbackRecord.reason),
      `${rollbackRecord?.status}: ${rollbackRecord?.reason ?? ''}`,
    );
    const lock = await store.getLock(env.name);
    check('environment lock released', lock === undefined, lock ? `held by ${lock.holder}` : 'free');
    const breaker = await store.getBreaker(env.name);
    check(
      'circuit breaker counted the failure',
      breaker.consecutiveFailures === 1,
      formatBreaker(breaker, env.thresholds.consecutive_failures_for_rollback),
    );

    if (env.canary) await canaryScenes({ guardian, env, output, check, good });
    // Before the alarm scenes: from there on an escalation waits for people and the clock stops.
    const legacy = Object.values(config.environments).find((e) => e.platform === 'ecs');
    if (legacy) await ecsScenes({ guardian, env: legacy, output, check, good });
    const blueGreen = Object.values(config.environments).find((e) => e.platform === 'argo-rollouts');
    if (blueGreen) await argoScenes({ guardian, env: blueGreen, output, check, good });
    await alarmScenes({ guardian, env, output, check, recorder, good, stable });
  } finally {
    await guardian.close();
    await recorder.close();
  }

  output.out('');
  output.out(bold('Summary'));
  for (const c of checks) output.out(`  ${c.ok ? green('✓') : red('✗')} ${c.what} ${dim(`(${c.detail})`)}`);
  const failed = checks.filter((c) => !c.ok).length;
  const took = ((performance.now() - started) / 1000).toFixed(1);
  output.out(
    failed === 0
      ? green(`demo passed: ${checks.length} checks in ${took} s`)
      : red(`demo FAILED: ${failed} of ${checks.length} checks did not hold (${took} s)`),
  );
  if (options.json) stdout.out(jsonDocument({ passed: failed === 0, checks, seconds: Number(took) }));
  return failed === 0 ? 0 : 1;
}

/**
 * The config the demo runs: the shipped one, except that the blue-green environment (production's
 * settings) accepts a pre-release tag, since the demo's images carry their behaviour in one
 * (`v1.6.2-errors`, lib/local/image-behaviour.ts).
 */
function demoConfig(config: GuardianConfig): GuardianConfig {
  const environments = Object.fromEntries(
    Object.entries(config.environments).map(([name, e]) => [
      name,
      e.platform === 'argo-rollouts' ? { ...e, requireVersionTag: false } : e,
    ]),
  );
  return { ...config, environments };
}

/** What the ECS scenes need from the demo. */
interface EcsScenes {
  readonly guardian: LocalGuardian;
  /** The legacy ECS environment. */
  readonly env: EnvironmentConfig;
  readonly output: Output;
  readonly check: (what: string, ok: boolean, detail: string) => void;
  /** The good release (deployed first). */
  readonly good: string;
}

/**
 * The legacy ECS service (issue 10): a good release through a new task definition revision, then
 * one whose tasks never pass their health checks. ECS's deployment circuit breaker fails it and
 * puts the service back itself; the guardian reports which, with the stopped tasks' reasons, and
 * its rollback leaves the service on the captured task definition.
 */
async function ecsScenes(o: EcsScenes): Promise<void> {
  const { guardian, env, output, check, good } = o;
  const bad = `${env.image}:v1.6.1-never-ready`;
  output.out('');
  output.out(
    bold(`E1. Legacy ECS service ${env.name}: deploy ${good} (backup, new task definition revision)`),
  );
  const first = await guardian.deploy(
    { environment: env.name, image: good, trigger: 'operator', requestedBy: 'demo' },
    deployExecutionName(env.name, 'v1.5.0', randomBytes(4).toString('hex')),
  );
  output.out(executionSummary(first));
  const running = await guardian.observeWorkload(env.name);
  check(
    'ECS service updated to a new task definition revision',
    first.status === 'SUCCEEDED' && running.image === good,
    `${first.status}: ${running.name} revision ${running.revision} runs ${running.image}`,
  );
  output.out('');
  output.out(bold(`E2. Deploy ${bad} to ECS (its tasks never pass the load balancer's health checks)`));
  const second = await guardian.deploy(
    { environment: env.name, image: bad, trigger: 'operator', requestedBy: 'demo' },
    deployExecutionName(env.name, 'v1.6.1-never-ready', randomBytes(4).toString('hex')),
  );
  output.out(executionSummary(second));
  const record = await guardian.store(env.name).getRecord(env.name, second.name);
  output.out(`   reason: ${record?.reason ?? second.cause ?? ''}`);
  check(
    "ECS's circuit breaker failure reported with the stopped tasks' reasons",
    second.error === 'DeploymentRolledBack' &&
      /circuit breaker/.test(second.cause ?? '') &&
      /stopped/.test(second.cause ?? ''),
    `${second.status} ${second.error ?? ''}`,
  );
  const after = await guardian.observeWorkload(env.name);
  check(
    'ECS service is back on the good task definition',
    after.image === good && after.revision === running.revision && record?.status === 'rolled-back',
    `${after.name} revision ${after.revision} runs ${after.image}; record ${record?.status}`,
  );
}

/**
 * The runbook's production workflow on a blue-green Argo Rollout (issue 11): a good release goes
 * to the preview Service, is health-checked and analysed against stable, promoted and monitored;
 * a release whose preview serves 4x stable's 5xx (its health checks pass) is stopped by the canary
 * analysis before promotion: the active Service never serves it, and the guardian's rollback
 * aborts it and puts the Rollout's desired template back on stable, so nothing retries it.
 */
async function argoScenes(o: EcsScenes): Promise<void> {
  const { guardian, env, output, check, good } = o;
  const bad = `${env.image}:v1.6.2-errors`;
  output.out('');
  output.out(
    bold(
      `A1. Blue-green Argo Rollout ${env.name}: deploy ${good} (preview, health check, canary vs stable, promote)`,
    ),
  );
  const first = await guardian.deploy(
    { environment: env.name, image: good, trigger: 'operator', requestedBy: 'demo' },
    deployExecutionName(env.name, 'v1.5.0', randomBytes(4).toString('hex')),
  );
  output.out(executionSummary(first));
  const promoted = await guardian.observeWorkload(env.name);
  const firstRecord = await guardian.store(env.name).getRecord(env.name, first.name);
  if (firstRecord?.canary) for (const line of formatCanary(firstRecord.canary)) output.out(`   ${line}`);
  check(
    'Argo preview analysed against stable, then promoted',
    first.status === 'SUCCEEDED' &&
      promoted.blueGreen?.stage === 'stable' &&
      promoted.blueGreen.stable?.image === good &&
      firstRecord?.canary?.outcome === 'pass',
    `${first.status}: ${promoted.rollout.message}; canary ${firstRecord?.canary?.outcome ?? 'none'}`,
  );
  output.out('');
  output.out(bold(`A2. Deploy ${bad} to the Rollout (its preview serves 4x the 5xx; health checks pass)`));
  const second = await guardian.deploy(
    { environment: env.name, image: bad, trigger: 'operator', requestedBy: 'demo' },
    deployExecutionName(env.name, 'v1.6.2-errors', randomBytes(4).toString('hex')),
  );
  output.out(executionSummary(second));
  const record = await guardian.store(env.name).getRecord(env.name, second.name);
  if (record?.canary) for (const line of formatCanary(record.canary)) output.out(`   ${line}`);
  const after = await guardian.observeWorkload(env.name);
  check(
    'the canary analysis stopped the bad preview before promotion',
    second.error === 'DeploymentRolledBack' &&
      record?.status === 'rolled-back' &&
      record.canary?.outcome === 'fail',
    `${second.status} ${second.error ?? ''}; canary ${record?.canary?.outcome ?? 'none'}`,
  );
  check(
    'the active Service never left the good release, and the desired template is back on it',
    after.image === good && after.blueGreen?.stage === 'stable' && after.blueGreen.stable?.image === good,
    after.rollout.message,
  );
}

/** What the canary scenes need from the demo. */
interface CanaryScenes {
  readonly guardian: LocalGuardian;
  readonly env: EnvironmentConfig;
  readonly output: Output;
  readonly check: (what: string, ok: boolean, detail: string) => void;
  /** The release running before the scenes (and after each rollback). */
  readonly good: string;
}

/** Prints a deployment's canary verdict, one line per metric, as `guardian status` does. */
function printCanary(output: Output, record: DeploymentRecord | undefined): void {
  const c = record?.canary;
  if (!c) {
    output.out(dim('  (no canary analysis recorded)'));
    return;
  }
  for (const line of formatCanary(c)) output.out(`  ${line}`);
}

/**
 * Scenes 3 and 4: two releases whose `/health` is fine but whose traffic is not — one serves
 * several times the 5xx, one answers with a much higher p99. The canary analysis catches both
 * and rolls them back with the explanation per metric; an operator resets the circuit breaker
 * the two failed releases in a row opened.
 */
async function canaryScenes({ guardian, env, output, check, good }: CanaryScenes): Promise<void> {
  const store = guardian.store(env.name);
  const firstRecord = (await store.listRecords(env.name, 10)).find(
    (r) => r.image === good && r.kind === 'deploy',
  );
  output.out('');
  output.out(bold(`   The canary analysis of ${good} (scene 1):`));
  printCanary(output, firstRecord);
  check(
    'the good release passed its canary analysis',
    firstRecord?.canary?.outcome === 'pass',
    `${firstRecord?.canary?.outcome} ${firstRecord?.canary?.score ?? ''}`,
  );

  const scenes = [
    {
      n: 3,
      tag: 'v1.6.1-errors',
      title: 'healthy on /health, but it answers several times the 5xx of the release before it',
      // The count test on errors/requests or the rank test on per-interval rates, whichever is sure first.
      metrics: ['error-count', 'error-rate'],
    },
    {
      n: 4,
      tag: 'v1.6.2-latency',
      title: 'healthy on /health, but its p99 latency is much higher',
      metrics: ['p99-latency'],
    },
  ];
  for (const scene of scenes) {
    const image = `${env.image}:${scene.tag}`;
    output.out('');
    output.out(bold(`${scene.n}. Deploy ${image}: ${scene.title}`));
    const result = await guardian.deploy(
      { environment: env.name, image, trigger: 'operator', requestedBy: 'demo' },
      deployExecutionName(env.name, scene.tag, randomBytes(4).toString('hex')),
    );
    output.out(executionSummary(result));
    const record = (await store.listRecords(env.name, 10)).find(
      (r) => r.image === image && r.kind === 'deploy',
    );
    printCanary(output, record);
    const caught = record?.canary?.metrics.find(
      (m) => scene.metrics.includes(m.name) && m.classification === 'High',
    );
    check(
      `the canary analysis caught ${scene.tag} on ${scene.metrics.join(' or ')} and it was rolled back`,
      result.error === 'DeploymentRolledBack' &&
        record?.status === 'rolled-back' &&
        record.canary?.outcome === 'fail' &&
        caught?.classification === 'High',
      `${result.status} ${result.error ?? ''}, canary ${record?.canary?.outcome}, ${caught ? `${caught.name} ${caught.classification}` : 'no metric High'}`,
    );
    const image2 = (await guardian.observeWorkload(env.name)).image;
    check(`cluster is back on ${good.split(':').pop()} after ${scene.tag}`, image2 === good, image2);
    const breaker = await store.getBreaker(env.name);
    if (breaker.state === 'open') {
      output.out(
        `  circuit breaker: ${formatBreaker(breaker, env.thresholds.consecutive_failures_for_rollback)}`,
      );
      output.out(
        `  ${dim('an operator looks, then resets it: guardian circuit-breaker --env staging --reset')}`,
      );
      await store.updateBreaker(env.name, () =>
        breakerReset(env.name, 'demo-operator', guardian.clock.now()),
      );
    }
  }
}

/** What the alarm scenes need from the demo. */
interface AlarmScenes {
  readonly guardian: LocalGuardian;
  readonly env: EnvironmentConfig;
  readonly output: Output;
  readonly check: (what: string, ok: boolean, detail: string) => void;
  readonly recorder: ChannelRecorder;
  /** The release running before the scenes (rolled back to). */
  readonly good: string;
  readonly stable: string;
}

/** Scenes 5 and 6: an alarm after a release rolls it back; its escalation climbs until acknowledged. */
async function alarmScenes({ guardian, env, output, check, recorder, good }: AlarmScenes): Promise<void> {
  const next = `${env.image}:v1.7.0`;
  output.out('');
  output.out(bold(`5. Promote ${next}; two minutes later its HighErrorRate alarm fires`));
  const third = await guardian.deploy(
    { environment: env.name, image: next, trigger: 'operator', requestedBy: 'demo' },
    deployExecutionName(env.name, 'v1.7.0', randomBytes(4).toString('hex')),
  );
  output.out(executionSummary(third));
  check('v1.7.0 promoted', third.status === 'SUCCEEDED', third.status);
  // From here an escalation waits for people: the clock moves only when the demo moves it.
  await guardian.setAdvanceWhenIdle(false);
  const clock = guardian.clock as SimulatedClock;
  clock.advance(120);
  const alarmName = `guardian-${env.name}-HighErrorRate`;
  const decision = await guardian.handleAlarmEvent(
    alarmStateChangeEvent({
      account: env.account,
      region: env.region,
      alarmName,
      state: 'ALARM',
      at: clock.now(),
      reason: `Threshold Crossed: 5 out of the last 5 datapoints were greater than the threshold (${env.thresholds.error_rate_threshold}.0)`,
      tags: { environment: env.name, service: env.service, severity: 'critical' },
    }),
  );
  output.out(`  ${bold(decision.action)}: ${decision.message}`);
  check(
    'alarm handler decided to roll the release back',
    decision.action === 'rollback-release',
    decision.action,
  );
  const incidentId = decision.incidentId ?? '';
  const store = guardian.store(env.name);
  // The rollback runs to its end; the escalation pages on-call and waits for an acknowledgement.
  const rollback = decision.rollback ? await guardian.execution(decision.rollback.executionArn) : undefined;
  if (rollback) output.out(executionSummary(rollback));
  check('the alarm rollback succeeded', rollback?.status === 'SUCCEEDED', `${rollback?.status}`);
  for (let i = 0; i < 500 && !(await store.getIncident(env.name, incidentId))?.taskToken; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const image = (await guardian.observeWorkload(env.name)).image;
  check('cluster is back on the release before v1.7.0', image === good, image);
  const released = (await store.listRecords(env.name, 5)).find(
    (r) => r.image === next && r.kind === 'deploy',
  );
  check(
    'v1.7.0 recorded as rolled back because of the alarm',
    released?.status === 'rolled-back' && released.alarm?.name === alarmName,
    `${released?.status} ${released?.alarm?.name ?? ''}`,
  );
  const pages = () =>
    recorder
      .received('/pagerduty')
      .map((r) => r.json as { event_action?: string; dedup_key?: string })
      .filter((e) => e.dedup_key === incidentId);
  check(
    'PagerDuty paged on-call with the incident as dedup key',
    pages().length === 1,
    `${pages().length} event(s)`,
  );

  output.out('');
  output.out(
    bold(`6. Nobody acknowledges for 10 minutes: the escalation pages the DevOps lead; then someone acks`),
  );
  clock.advance(10 * 60);
  let incident = await store.getIncident(env.name, incidentId);
  for (let i = 0; i < 500 && (incident?.levelReached ?? 0) < 1; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    incident = await store.getIncident(env.name, incidentId);
  }
  output.out(`  paged ${incident?.levelContact ?? 'nobody'} at ${incident?.levelReachedAt ?? '?'}`);
  check(
    'the lead was paged after 10 simulated minutes',
    incident?.levelContact === 'devops-lead',
    `${incident?.levelContact}`,
  );
  for (let i = 0; i < 500 && !(await store.getIncident(env.name, incidentId))?.taskToken; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const ack = await guardian.acknowledge(env.name, incidentId, { by: 'demo-operator' });
  output.out(`  ${ack.message}`);
  const escalation = decision.escalation
    ? await guardian.execution(decision.escalation.executionArn)
    : undefined;
  check(
    'acknowledging ended the escalation',
    ack.chainEnded && escalation?.status === 'SUCCEEDED',
    `${escalation?.status}`,
  );
  const actions = pages().map((e) => e.event_action);
  check(
    'PagerDuty got trigger, trigger, acknowledge',
    actions.join(',') === 'trigger,trigger,acknowledge',
    actions.join(', '),
  );
  check(
    'Slack was told',
    recorder.received('/slack').length >= 3,
    `${recorder.received('/slack').length} message(s)`,
  );
}
