/**
 * The alarm handler and the escalation steps on AWS APIs: each step runs through its Lambda entry
 * point (`lambdaHandler` with the step's config slice: `buildStepDeps(..., {kind: 'aws'})` builds
 * its ports with the port table's AWS factories) against moto server, which stands in for
 * DynamoDB, Step Functions, Secrets Manager, SNS and CloudWatch. PagerDuty's Events API and
 * Slack's webhook are a real HTTP receiver on loopback, whose URL the Slack secret in moto holds.
 *
 * Moto runs state machines here (its `execute_state_machine` mode), so task tokens are real: the
 * Deploy and Escalation stand-ins park a `sns:publish.waitForTaskToken` task whose token reaches
 * the receiver through an SNS subscription, and SendTaskFailure / SendTaskSuccess end them.
 *
 * Gaps of moto, each named by a test below ("moto gap: ..."):
 * - it cannot run the synthesized definitions: their tasks invoke Lambda functions, which moto
 *   runs only in Docker. The state machines are stand-ins with the names the stack gives them;
 *   the test plays the Lambda tasks ("Page level", "Wait for acknowledgement") by calling the
 *   real step entry points with what the workflow would pass;
 * - it accepts SendTaskFailure for a token whose task already ended (AWS answers TaskTimedOut or
 *   TaskDoesNotExist), so "the wait was already over" is exercised with a token moto never issued;
 * - its SendTaskFailure drops `cause` (the execution and its history carry the error only);
 * - StopExecution does not interrupt a task waiting on its token (the execution stays RUNNING
 *   until the token is answered), so "the escalation no longer waits" is a wait that timed out;
 * - CloudWatch has no PutCompositeAlarm and emits no "CloudWatch Alarm State Change" event to
 *   EventBridge: the composite alarm is created the way moto keeps one, and the handler is handed
 *   the AWS documentation's event format (test/fixtures/alarm-events).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import {
  CloudWatchClient,
  PutCompositeAlarmCommand,
  PutMetricAlarmCommand,
  SetAlarmStateCommand,
} from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  CreateStateMachineCommand,
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AlarmHandlerResult, step as alarmHandler } from '../../lambdas/alarm-handler/handler.ts';
import {
  DEGRADED_ALARM_ID,
  guardianAlarmName,
  type MetricAlarmId,
} from '../../lambdas/core/alarm-catalog.ts';
import { stateMachineName } from '../../lambdas/core/naming.ts';
import type { AlarmStates, Store } from '../../lambdas/core/ports.ts';
import type { DeploymentRecord } from '../../lambdas/core/types.ts';
import {
  type EscalationNotifyResult,
  step as escalationNotify,
} from '../../lambdas/escalation-notify/handler.ts';
import { step as escalationWait } from '../../lambdas/escalation-wait/handler.ts';
import { ENV_VARS, PORTS } from '../../lambdas/ports/table.ts';
import { type LambdaHandler, lambdaHandler } from '../../lambdas/shared/lambda.ts';
import { configSlice } from '../../lambdas/shared/wiring.ts';
import type { StepId } from '../../lambdas/steps.ts';
import { loadConfig } from '../../lib/config/load.ts';
import type { EnvironmentConfig } from '../../lib/config/schema.ts';
import { SimulatedClock } from '../../lib/local/clock.ts';
import { alarmFixture } from '../helpers/alarm-events.ts';
import { createGuardianTables } from '../helpers/dynalite.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

const REGION = 'ap-southeast-1';
const ACCOUNT = '123456789012';
const REPO = 'ghcr.io/buywhere/buywhere-api';
const ROUTING_KEY = 'R0123456789abcdef0123456789abcdef';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/guardian-test`;
const SECRETS = {
  pagerduty: 'guardian/production/pagerduty-routing-key',
  slack: 'guardian/production/slack-webhook',
};

let moto: ChildProcess | undefined;
let endpoint = '';
let receiver: Receiver;
const saved: Record<string, string | undefined> = {};
/** The stand-in state machines by kind, and the topics the test created. */
const machines = { deploy: '', rollback: '', escalation: '', escalationLastLevel: '' };
let escalationTopic = '';
let tokensTopic = '';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const client = <C>(Ctor: new (c: { region: string; endpoint: string }) => C): C =>
  new Ctor({ region: REGION, endpoint });

/**
 * A request in moto's JSON protocol for a call the SDK cannot make (it drops a field) or the
 * project has no client for; moto checks no signature, only the credential scope's service.
 */
async function motoJson(service: string, target: string, body: unknown): Promise<Response> {
  return fetch(`${endpoint}/`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': target,
      authorization: `AWS4-HMAC-SHA256 Credential=testing/20261203/${REGION}/${service}/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  });
}

/** A request in moto's query protocol (IAM), for which the project has no client. */
async function motoQuery(service: string, params: Record<string, string>): Promise<Response> {
  return fetch(`${endpoint}/`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `AWS4-HMAC-SHA256 Credential=testing/20261203/us-east-1/${service}/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: new URLSearchParams(params).toString(),
  });
}

/** A `sns:publish.waitForTaskToken` task: its token reaches the receiver through the tokens topic. */
function waitingTask(message: Record<string, string>, timeoutSeconds?: number) {
  return {
    Type: 'Task',
    Resource: 'arn:aws:states:::sns:publish.waitForTaskToken',
    Parameters: { TopicArn: tokensTopic, Message: { ...message, 'taskToken.$': '$$.Task.Token' } },
    ...(timeoutSeconds !== undefined && { TimeoutSeconds: timeoutSeconds }),
    End: true,
  };
}

beforeAll(async () => {
  const server =
    execFileSync('bash', ['tools/moto/ensure.sh'], { encoding: 'utf8' }).trim().split('\n').pop() ?? '';
  const port = await freePort();
  // MOTO_PORT: the state machines' service integrations call back into this same server.
  moto = spawn(server, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, MOTO_PORT: String(port) },
  });
  let stderr = '';
  moto.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  endpoint = `http://127.0.0.1:${port}`;
  let ready = false;
  for (let i = 0; i < 150 && !ready; i++) {
    ready = await fetch(`${endpoint}/moto-api/`).then(
      (r) => r.ok,
      () => false,
    );
    if (!ready) await new Promise((r) => setTimeout(r, 200));
  }
  if (!ready) throw new Error(`moto server did not come up on ${endpoint}: ${stderr}`);
  const configured = await fetch(`${endpoint}/moto-api/config`, {
    method: 'POST',
    body: JSON.stringify({ stepfunctions: { execute_state_machine: true } }),
  });
  if (!configured.ok) throw new Error(`moto refused its config: ${configured.status}`);
  // The SDK clients the port factories build (`new SFNClient({})`, ...) find moto through these.
  for (const [k, v] of Object.entries({
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_SESSION_TOKEN: 'testing',
    AWS_REGION: REGION,
  })) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  receiver = await startReceiver();

  const sns = client(SNSClient);
  escalationTopic =
    (await sns.send(new CreateTopicCommand({ Name: 'guardian-production-alarms' }))).TopicArn ?? '';
  await sns.send(
    new SubscribeCommand({ TopicArn: escalationTopic, Protocol: 'http', Endpoint: `${receiver.url}/sns` }),
  );
  tokensTopic =
    (await sns.send(new CreateTopicCommand({ Name: 'guardian-test-task-tokens' }))).TopicArn ?? '';
  await sns.send(
    new SubscribeCommand({ TopicArn: tokensTopic, Protocol: 'http', Endpoint: `${receiver.url}/tokens` }),
  );

  const sm = client(SecretsManagerClient);
  await sm.send(new CreateSecretCommand({ Name: SECRETS.pagerduty, SecretString: ROUTING_KEY }));
  await sm.send(new CreateSecretCommand({ Name: SECRETS.slack, SecretString: `${receiver.url}/slack` }));

  // Stand-ins with the stack's names (moto gap: the real definitions invoke Lambda functions).
  const definitions = {
    // Waits for its rollout like the real Deploy's "Wait for rollout" task.
    deploy: {
      StartAt: 'Wait for rollout',
      States: { 'Wait for rollout': waitingTask({ 'deployment.$': '$$.Execution.Name' }) },
    },
    // A rollback takes minutes: it stays RUNNING for the test's lifetime.
    rollback: { StartAt: 'Restore', States: { Restore: { Type: 'Wait', Seconds: 3600, End: true } } },
    // "Wait for acknowledgement" of the real Escalation, whose output is what ended the wait.
    escalation: {
      StartAt: 'Wait for acknowledgement',
      States: { 'Wait for acknowledgement': waitingTask({ 'incidentId.$': '$.incidentId' }) },
    },
    // An escalation at its last level, whose wait for acknowledgement runs out after a second.
    escalationLastLevel: {
      StartAt: 'Wait for acknowledgement',
      States: { 'Wait for acknowledgement': waitingTask({ 'incidentId.$': '$.incidentId' }, 1) },
    },
  };
  const sfn = client(SFNClient);
  for (const kind of ['deploy', 'rollback', 'escalation', 'escalationLastLevel'] as const) {
    const out = await sfn.send(
      new CreateStateMachineCommand({
        name:
          kind === 'escalationLastLevel'
            ? `${stateMachineName('production', 'escalation')}-last-level`
            : stateMachineName('production', kind),
        definition: JSON.stringify(definitions[kind]),
        roleArn: ROLE,
      }),
    );
    machines[kind] = out.stateMachineArn ?? '';
  }
}, 120_000);

afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  moto?.kill();
  await receiver?.close();
});

const prod = loadConfig().environments.production as EnvironmentConfig;

/** Production as configured, with PagerDuty's Events API on the receiver. */
function productionConfig(): EnvironmentConfig {
  const channels = prod.escalation.channels;
  if (!channels.pagerduty || !channels.slack || channels.sns?.topic !== 'stack') {
    throw new Error(
      'config/environments.yaml: production must page through PagerDuty, Slack and its stack topic',
    );
  }
  return {
    ...prod,
    escalation: {
      ...prod.escalation,
      channels: { ...channels, pagerduty: { ...channels.pagerduty, eventsUrl: `${receiver.url}/pagerduty` } },
    },
  };
}

/** One environment's worth of AWS resources and its steps' Lambda entry points. */
interface Guardian {
  readonly store: Store;
  readonly alarm: LambdaHandler<AlarmHandlerResult>;
  readonly notify: LambdaHandler<EscalationNotifyResult>;
  readonly wait: LambdaHandler<{ waiting: boolean; message: string }>;
}

let tableSet = 0;

/**
 * Fresh tables in moto (each test its own), and the steps' entry points wired to them through the
 * variables the stack sets on the functions.
 */
async function guardian(escalationMachine = machines.escalation): Promise<Guardian> {
  tableSet++;
  const tables = {
    deploymentsTable: `guardian-production-deployments-${tableSet}`,
    controlTable: `guardian-production-control-${tableSet}`,
  };
  await createGuardianTables(client(DynamoDBClient), tables);
  const vars = {
    [ENV_VARS.deploymentsTable]: tables.deploymentsTable,
    [ENV_VARS.controlTable]: tables.controlTable,
    [ENV_VARS.rollbackStateMachine]: machines.rollback,
    [ENV_VARS.escalationStateMachine]: escalationMachine,
    [ENV_VARS.escalationTopic]: escalationTopic,
  };
  const config = productionConfig();
  const entry = (id: StepId) => ({ config: JSON.stringify(configSlice(id, config)), vars });
  return {
    store: (await PORTS.store.aws({ config, vars, clock: new SimulatedClock() })) as Store,
    alarm: lambdaHandler(alarmHandler, entry('alarm-handler')),
    notify: lambdaHandler(escalationNotify, entry('escalation-notify')),
    wait: lambdaHandler(escalationWait, entry('escalation-wait')),
  };
}

/** CloudWatch's timestamp format in alarm events (`2026-11-20T10:12:05.485+0000`). */
const cwTime = (d: Date) => d.toISOString().replace('Z', '+0000');

/** A real-format state change of `guardian-production-<name>` at `at` (the Lambda runs on real time). */
function alarmEvent(name: MetricAlarmId, value: 'ALARM' | 'OK', at = new Date()): Record<string, unknown> {
  const e = alarmFixture(value === 'OK' ? 'guardian-high-error-rate-ok' : 'guardian-high-error-rate-alarm');
  const alarmName = guardianAlarmName('production', name);
  const detail = e.detail as Record<string, unknown> & { state: Record<string, unknown> };
  e.id = randomUUID();
  e.time = at.toISOString().replace(/\.\d+Z$/, 'Z');
  e.resources = [`arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:${alarmName}`];
  detail.alarmName = alarmName;
  detail.state = { ...detail.state, timestamp: cwTime(at) };
  return e;
}

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();

/** A deploy record as a Deploy execution leaves it. */
function deployRecord(
  id: string,
  tag: string,
  previous: string,
  extra: Partial<DeploymentRecord> = {},
): DeploymentRecord {
  return {
    environment: 'production',
    id,
    kind: 'deploy',
    status: 'succeeded',
    executionArn: `${machines.deploy.replace(':stateMachine:', ':execution:')}:${id}`,
    trigger: 'ci',
    requestedBy: 'github-actions',
    image: `${REPO}:${tag}`,
    version: tag,
    rollbackPoint: { platform: 'kubernetes', revision: 4, image: `${REPO}:${previous}`, podTemplate: {} },
    revision: 5,
    startedAt: minutesAgo(12),
    finishedAt: minutesAgo(5),
    ...extra,
  };
}

/** The task token a stand-in's waiting task published for the execution or incident `key`. */
async function tokenFor(key: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    for (const r of receiver.received('/tokens')) {
      const n = r.json as { Type?: string; Message?: string };
      if (n.Type !== 'Notification' || !n.Message) continue;
      const m = JSON.parse(n.Message) as { deployment?: string; incidentId?: string; taskToken: string };
      if (m.deployment === key || m.incidentId === key) return m.taskToken;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no task token was published for ${key}`);
}

/** Polls the execution until it leaves RUNNING. */
async function ended(executionArn: string) {
  const sfn = client(SFNClient);
  for (let i = 0; i < 100; i++) {
    const d = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (d.status !== 'RUNNING') return d;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${executionArn} is still running`);
}

async function executionsOf(kind: keyof typeof machines) {
  return (
    (await client(SFNClient).send(new ListExecutionsCommand({ stateMachineArn: machines[kind] })))
      .executions ?? []
  );
}

type PagerDutyEvent = {
  event_action: string;
  dedup_key: string;
  routing_key: string;
  payload?: { severity: string; summary: string };
};
const pagerDuty = (dedupKey: string) =>
  receiver
    .received('/pagerduty')
    .map((r) => r.json as PagerDutyEvent)
    .filter((e) => e.dedup_key === dedupKey);

describe('alarm handler on AWS APIs (moto)', () => {
  it('rolls a promoted release back when its HighErrorRate fires: Rollback and Escalation executions started, incident and claim stored, a duplicate is a no-op', async () => {
    const g = await guardian();
    const previous = deployRecord('production-v1-3-0-0000aaaa', 'v1.3.0', 'v1.2.0', {
      startedAt: minutesAgo(3000),
      finishedAt: minutesAgo(2990),
    });
    const release = deployRecord('production-v1-4-0-0000bbbb', 'v1.4.0', 'v1.3.0');
    await g.store.putRecord(previous);
    await g.store.putRecord(release);
    const event = alarmEvent('HighErrorRate', 'ALARM');

    const result = await g.alarm(event);
    const rollbackName = `${release.id}-alarm`;
    const rollbackArn = `arn:aws:states:${REGION}:${ACCOUNT}:execution:guardian-production-rollback:${rollbackName}`;
    expect(result).toMatchObject({
      action: 'rollback-release',
      environment: 'production',
      alarm: 'guardian-production-HighErrorRate',
      severity: 'critical',
      deploymentId: release.id,
      rollbackTo: `${REPO}:v1.3.0`,
      rollback: { executionArn: rollbackArn, started: true },
      escalation: { started: true },
    });
    const incidentId = result.incidentId as string;

    const sfn = client(SFNClient);
    const rollback = await sfn.send(new DescribeExecutionCommand({ executionArn: rollbackArn }));
    expect(rollback).toMatchObject({ name: rollbackName, status: 'RUNNING' });
    expect(JSON.parse(rollback.input ?? '{}')).toEqual({
      environment: 'production',
      deploymentId: release.id,
      trigger: 'alarm',
      requestedBy: 'guardian',
      reason: expect.stringMatching(/^alarm guardian-production-HighErrorRate fired .*Threshold Crossed/),
    });
    const escalations = (await executionsOf('escalation')).filter((e) => e.name === incidentId);
    expect(escalations).toHaveLength(1);
    const escalation = await sfn.send(
      new DescribeExecutionCommand({ executionArn: escalations[0]?.executionArn }),
    );
    expect(JSON.parse(escalation.input ?? '{}')).toEqual({ incidentId });
    expect(result.escalation?.executionArn).toBe(escalation.executionArn);

    expect(await g.store.getIncident('production', incidentId)).toMatchObject({
      status: 'open',
      priority: 'P1',
      alarm: { name: 'guardian-production-HighErrorRate', severity: 'critical' },
      release: { image: `${REPO}:v1.4.0`, deploymentId: release.id, rollbackId: rollbackName },
    });
    expect((await g.store.getRecord('production', release.id))?.alarm).toMatchObject({
      name: 'guardian-production-HighErrorRate',
      eventId: event.id,
    });

    // EventBridge delivers at least once; a second alarm for the same release joins the first.
    const duplicate = await g.alarm(structuredClone(event));
    expect(duplicate.action).toBe('ignore');
    expect(duplicate.reason).toMatch(/was already handled; EventBridge delivers at least once/);
    const other = await g.alarm(alarmEvent('APIServiceDown', 'ALARM'));
    expect(other.action).toBe('notify');
    expect((await executionsOf('rollback')).filter((e) => e.name === rollbackName)).toHaveLength(1);
    expect((await executionsOf('escalation')).filter((e) => e.name === incidentId)).toHaveLength(1);
  });

  it('pages the incident on PagerDuty, Slack and SNS with the keys and URLs read from Secrets Manager', async () => {
    const g = await guardian();
    // No release on record: escalation only.
    const opened = await g.alarm(alarmEvent('APIServiceDown', 'ALARM'));
    expect(opened).toMatchObject({ action: 'escalate', escalation: { started: true } });
    const incidentId = opened.incidentId as string;
    const execution = { Id: opened.escalation?.executionArn as string, Name: incidentId };

    // "Page level" of the Escalation workflow (moto gap: the test plays the Lambda task).
    const paged = await g.notify({ action: 'page', incidentId, level: 0, execution });
    expect(paged).toMatchObject({ open: true, level: 0, contact: 'on-call', last: false, nextLevel: 1 });
    expect(paged.waitSeconds).toBeGreaterThan(0);
    expect(paged.deliveries).toEqual([
      expect.objectContaining({ channel: 'pagerduty', delivered: true, attempts: 1 }),
      expect.objectContaining({ channel: 'slack', delivered: true, attempts: 1 }),
      expect.objectContaining({ channel: 'sns', delivered: true, attempts: 1 }),
    ]);
    const [trigger, ...more] = pagerDuty(incidentId);
    expect(more).toEqual([]);
    expect(trigger).toMatchObject({
      event_action: 'trigger',
      dedup_key: incidentId,
      routing_key: ROUTING_KEY,
      payload: { severity: 'critical' },
    });
    const slack = receiver.received('/slack').map((r) => r.json as { text: string; blocks: unknown[] });
    const page = slack.find((m) => JSON.stringify(m).includes(`guardian ack ${incidentId}`));
    expect(page?.text).toMatch(/^\[P1\] guardian-production-APIServiceDown in production/);
    expect(page?.blocks).toEqual(
      expect.arrayContaining([
        { type: 'header', text: { type: 'plain_text', text: expect.stringContaining('[P1]') } },
        expect.objectContaining({
          type: 'section',
          fields: expect.arrayContaining([{ type: 'mrkdwn', text: '*Environment*\nproduction' }]),
        }),
      ]),
    );
    const published = receiver
      .received('/sns')
      .map((r) => r.json as { Type?: string; TopicArn?: string; Subject?: string; Message?: string })
      .filter((n) => n.Type === 'Notification' && n.Message?.includes(incidentId));
    expect(published).toEqual([
      expect.objectContaining({ TopicArn: escalationTopic, Subject: expect.stringMatching(/^\[P1\] /) }),
    ]);
    expect((await g.store.getIncident('production', incidentId))?.levelReached).toBe(0);
  });

  it('fails the running deployment with the real task token moto issued, so it rolls back at once', async () => {
    const g = await guardian();
    const id = `production-v1-5-0-${randomUUID().slice(0, 8)}`;
    const start = await client(SFNClient).send(
      new StartExecutionCommand({ stateMachineArn: machines.deploy, name: id, input: '{}' }),
    );
    const token = await tokenFor(id);
    const now = new Date();
    await g.store.acquireLock(
      {
        environment: 'production',
        holder: id,
        executionArn: start.executionArn ?? '',
        acquiredAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + 3_600_000).toISOString(),
      },
      now,
    );
    await g.store.putRecord(
      deployRecord(id, 'v1.5.0', 'v1.4.0', {
        status: 'in-progress',
        executionArn: start.executionArn ?? '',
        finishedAt: undefined,
        signal: { token, phase: 'monitoring', since: now.toISOString() },
      }),
    );

    const result = await g.alarm(alarmEvent('HighErrorRate', 'ALARM'));
    expect(result).toMatchObject({ action: 'rollback-deployment', deploymentId: id, waitEnded: true });
    expect(result.message).toMatch(/Ended its monitoring wait at once/);
    const execution = await ended(start.executionArn ?? '');
    expect(execution).toMatchObject({ status: 'FAILED', error: 'AlarmFiredError' });
    expect((await g.store.getRecord('production', id))?.alarm?.name).toBe(
      'guardian-production-HighErrorRate',
    );
    // The handler starts no rollback of its own: the deployment rolls back through its own path.
    expect((await executionsOf('rollback')).filter((e) => e.name?.startsWith(id))).toEqual([]);
  });

  it('leaves the alarm on the record for its next wait when moto answers that no task waits on the token', async () => {
    const g = await guardian();
    const id = `production-v1-6-0-${randomUUID().slice(0, 8)}`;
    const now = new Date();
    const executionArn = `${machines.deploy.replace(':stateMachine:', ':execution:')}:${id}`;
    await g.store.acquireLock(
      {
        environment: 'production',
        holder: id,
        executionArn,
        acquiredAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + 3_600_000).toISOString(),
      },
      now,
    );
    // A token no waiting task holds (the deployment is between its waits).
    const stale = randomUUID();
    await g.store.putRecord(
      deployRecord(id, 'v1.6.0', 'v1.5.0', {
        status: 'in-progress',
        executionArn,
        finishedAt: undefined,
        signal: { token: stale, phase: 'rollout', since: now.toISOString() },
      }),
    );
    // What moto answers for it: InvalidToken (the adapter reads it, like TaskDoesNotExist and
    // TaskTimedOut, as "nothing was waiting").
    await expect(
      client(SFNClient).send(new SendTaskFailureCommand({ taskToken: stale, error: 'probe' })),
    ).rejects.toMatchObject({ name: 'InvalidToken' });

    const result = await g.alarm(alarmEvent('HighErrorRate', 'ALARM'));
    expect(result).toMatchObject({ action: 'rollback-deployment', deploymentId: id, waitEnded: false });
    expect(result.message).toMatch(/between waits: its next wait reads the alarm from its record/);
    expect(await g.store.getRecord('production', id)).toMatchObject({
      status: 'in-progress',
      alarm: { name: 'guardian-production-HighErrorRate' },
    });
  });

  it('moto gap: SendTaskFailure drops its cause, and is accepted for a token whose task already ended (AWS refuses it)', async () => {
    const sfn = client(SFNClient);
    const id = `production-v1-7-0-${randomUUID().slice(0, 8)}`;
    const start = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: machines.deploy, name: id, input: '{}' }),
    );
    const token = await tokenFor(id);
    await sfn.send(
      new SendTaskFailureCommand({ taskToken: token, error: 'AlarmFiredError', cause: 'alarm fired' }),
    );
    const execution = await ended(start.executionArn ?? '');
    expect(execution).toMatchObject({ status: 'FAILED', error: 'AlarmFiredError' });
    // moto's SendTaskFailure drops `cause`: neither the execution nor its history carries it, so the
    // alarm's reason the handler sends is asserted on the handler's side (the record), not here.
    expect(execution.cause).toBeUndefined();
    const history = await sfn.send(
      new GetExecutionHistoryCommand({ executionArn: start.executionArn ?? '' }),
    );
    expect(history.events?.find((e) => e.type === 'ExecutionFailed')?.executionFailedEventDetails).toEqual({
      error: 'AlarmFiredError',
    });
    // AWS answers TaskTimedOut or TaskDoesNotExist here; moto answers as if the task still waited,
    // so under moto the handler would report waitEnded for a wait that was already over.
    await expect(
      sfn.send(new SendTaskFailureCommand({ taskToken: token, error: 'AlarmFiredError' })),
    ).resolves.toBeDefined();
  });

  it('resolves the incident when the alarm returns to OK, ending the waiting escalation with SendTaskSuccess', async () => {
    const g = await guardian();
    const opened = await g.alarm(alarmEvent('HighErrorRate', 'ALARM'));
    expect(opened.action).toBe('escalate');
    const incidentId = opened.incidentId as string;
    const execution0 = { Id: opened.escalation?.executionArn as string, Name: incidentId };
    // "Page level", then "Wait for acknowledgement" (moto gap: the test plays the Lambda tasks,
    // the second with the real token moto's waiting task published).
    expect(await g.notify({ action: 'page', incidentId, level: 0, execution: execution0 })).toMatchObject({
      open: true,
    });
    const token = await tokenFor(incidentId);
    expect(await g.wait({ incidentId, level: 0, taskToken: token })).toMatchObject({ waiting: true });
    expect((await g.store.getIncident('production', incidentId))?.taskToken).toBe(token);

    const result = await g.alarm(alarmEvent('HighErrorRate', 'OK'));
    expect(result).toMatchObject({ action: 'resolve', incidentId, deliveries: [] });
    expect(result.message).toMatch(/Its escalation ends and announces it/);
    const execution = await ended(opened.escalation?.executionArn as string);
    expect(execution.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution.output ?? '{}')).toEqual({
      incidentId,
      status: 'resolved',
      by: 'alarm guardian-production-HighErrorRate (OK)',
    });
    expect(await g.store.getIncident('production', incidentId)).toMatchObject({ status: 'resolved' });

    // "Announce closure" then resolves the PagerDuty incident by its dedup key.
    const closed = await g.notify({
      action: 'close',
      incidentId,
      execution: { Id: execution.executionArn as string, Name: incidentId },
    });
    expect(closed.status).toBe('resolved');
    expect(pagerDuty(incidentId).map((e) => [e.event_action, e.routing_key])).toEqual([
      ['trigger', ROUTING_KEY],
      ['resolve', ROUTING_KEY],
    ]);
  });

  it('resolves the incident and tells the channels itself when its escalation no longer waits (moto: InvalidToken)', async () => {
    const g = await guardian(machines.escalationLastLevel);
    const opened = await g.alarm(alarmEvent('APIServiceDown', 'ALARM'));
    const incidentId = opened.incidentId as string;
    expect(opened.action, opened.reason).toBe('escalate');
    const execution = { Id: opened.escalation?.executionArn as string, Name: incidentId };
    await g.notify({ action: 'page', incidentId, level: 0, execution });
    const token = await tokenFor(incidentId);
    await g.wait({ incidentId, level: 0, taskToken: token });
    // Its last wait ran out: the token on the incident is stale.
    expect(await ended(execution.Id)).toMatchObject({ status: 'FAILED', error: 'States.Timeout' });

    const result = await g.alarm(alarmEvent('APIServiceDown', 'OK'));
    expect(result).toMatchObject({ action: 'resolve', incidentId });
    expect(result.message).toMatch(/was not waiting; the channels were told directly/);
    expect(result.deliveries).toEqual([
      expect.objectContaining({ channel: 'pagerduty', delivered: true }),
      expect.objectContaining({ channel: 'slack', delivered: true }),
      expect.objectContaining({ channel: 'sns', delivered: true }),
    ]);
    expect(pagerDuty(incidentId).map((e) => e.event_action)).toEqual(['trigger', 'resolve']);
    expect(await g.store.getIncident('production', incidentId)).toMatchObject({ status: 'resolved' });
    // What moto answered the handler (AWS answers TaskTimedOut; the adapter reads both as "not waiting").
    await expect(
      client(SFNClient).send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' })),
    ).rejects.toMatchObject({ name: 'InvalidToken' });
  });

  it('moto gap: StopExecution does not interrupt a task waiting on its token', async () => {
    const sfn = client(SFNClient);
    const id = `production-v1-8-0-${randomUUID().slice(0, 8)}`;
    const start = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: machines.deploy, name: id, input: '{}' }),
    );
    const token = await tokenFor(id);
    await sfn.send(new StopExecutionCommand({ executionArn: start.executionArn, cause: 'operator' }));
    await new Promise((r) => setTimeout(r, 500));
    // AWS aborts the execution at once; moto keeps it RUNNING until its token is answered.
    expect((await sfn.send(new DescribeExecutionCommand({ executionArn: start.executionArn }))).status).toBe(
      'RUNNING',
    );
    await sfn.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' }));
    expect((await ended(start.executionArn ?? '')).status).toBe('ABORTED');
  });
  it('moto gap: a Lambda task fails, because moto runs Lambda functions only in Docker', async () => {
    // The synthesized definitions' tasks look like this one: a Lambda invoke of the step's function.
    const role = await motoQuery('iam', {
      Action: 'CreateRole',
      Version: '2010-05-08',
      RoleName: 'guardian-test-lambda',
      AssumeRolePolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
        ],
      }),
    });
    expect(role.ok).toBe(true);
    const FunctionName = 'guardian-production-escalation-notify';
    // An empty zip archive (its end-of-central-directory record alone): moto never runs the code.
    const emptyZip = Uint8Array.from([0x50, 0x4b, 0x05, 0x06, ...new Array<number>(18).fill(0)]);
    await client(LambdaClient).send(
      new CreateFunctionCommand({
        FunctionName,
        Runtime: 'nodejs22.x',
        Handler: 'index.handler',
        Role: `arn:aws:iam::${ACCOUNT}:role/guardian-test-lambda`,
        Code: { ZipFile: emptyZip },
      }),
    );
    const sfn = client(SFNClient);
    const definition = {
      StartAt: 'Page level',
      States: {
        'Page level': {
          Type: 'Task',
          Resource: 'arn:aws:states:::lambda:invoke',
          Parameters: { FunctionName, 'Payload.$': '$' },
          End: true,
        },
      },
    };
    const machine = await sfn.send(
      new CreateStateMachineCommand({
        name: 'guardian-test-lambda-task',
        definition: JSON.stringify(definition),
        roleArn: ROLE,
      }),
    );
    const start = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: machine.stateMachineArn, input: '{}' }),
    );
    const execution = await ended(start.executionArn ?? '');
    expect(execution.status).toBe('FAILED');
    expect(execution.cause).toMatch(/docker/i);
  });
});

describe('alarms on CloudWatch (moto)', () => {
  const HIGH_ERROR_RATE = guardianAlarmName('production', 'HighErrorRate');
  const DEGRADED = guardianAlarmName('production', DEGRADED_ALARM_ID);
  /** The alarms port as preflight's Lambda builds it (DescribeAlarms). */
  const alarmsPort = async () =>
    (await PORTS.alarms.aws({ config: prod, clock: new SimulatedClock(), vars: {} })) as AlarmStates;

  it("reads the HighErrorRate and composite Degraded alarms' states through the alarms port", async () => {
    const cw = client(CloudWatchClient);
    await cw.send(
      new PutMetricAlarmCommand({
        AlarmName: HIGH_ERROR_RATE,
        Namespace: 'AWS/ApplicationELB',
        MetricName: 'HTTPCode_Target_5XX_Count',
        Statistic: 'Sum',
        Period: 60,
        EvaluationPeriods: 5,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanThreshold',
        Tags: [
          { Key: 'environment', Value: 'production' },
          { Key: 'service', Value: 'buywhere-api' },
          { Key: 'severity', Value: 'critical' },
        ],
      }),
    );
    // moto keeps a PutMetricAlarm with an AlarmRule as a composite alarm (the SDK drops AlarmRule).
    const put = await motoJson('monitoring', 'GraniteServiceVersion20100801.PutMetricAlarm', {
      AlarmName: DEGRADED,
      AlarmRule: `ALARM("${HIGH_ERROR_RATE}")`,
    });
    expect(put.ok).toBe(true);
    // moto does not evaluate the rule: both states are set by hand.
    for (const AlarmName of [HIGH_ERROR_RATE, DEGRADED]) {
      await cw.send(
        new SetAlarmStateCommand({ AlarmName, StateValue: 'ALARM', StateReason: 'Threshold Crossed' }),
      );
    }
    const alarms = await alarmsPort();
    expect(await alarms.stateOf(HIGH_ERROR_RATE)).toMatchObject({
      value: 'ALARM',
      reason: 'Threshold Crossed',
    });
    expect(await alarms.stateOf(DEGRADED)).toMatchObject({ value: 'ALARM', reason: 'Threshold Crossed' });
  });

  it('moto gap: PutCompositeAlarm is not implemented (a 500), and creates no alarm', async () => {
    // One attempt: the SDK would retry the 500 as a server error.
    const cw = new CloudWatchClient({ region: REGION, endpoint, maxAttempts: 1 });
    const name = `${DEGRADED}-sdk`;
    const put = cw.send(
      new PutCompositeAlarmCommand({ AlarmName: name, AlarmRule: `ALARM("${HIGH_ERROR_RATE}")` }),
    );
    await expect(put).rejects.toMatchObject({ $metadata: { httpStatusCode: 500 } });
    expect(await (await alarmsPort()).stateOf(name)).toBeUndefined();
  });

  it('moto gap: a state change emits no event to EventBridge, so the handler is handed the documented event format', async () => {
    const queue = (await (
      await motoJson('sqs', 'AmazonSQS.CreateQueue', { QueueName: 'guardian-test-alarm-events' })
    ).json()) as { QueueUrl: string };
    const queueArn = `arn:aws:sqs:${REGION}:${ACCOUNT}:guardian-test-alarm-events`;
    const rule = await motoJson('events', 'AWSEvents.PutRule', {
      Name: 'guardian-test-alarm-state-change',
      EventPattern: JSON.stringify({
        source: ['aws.cloudwatch'],
        'detail-type': ['CloudWatch Alarm State Change'],
      }),
    });
    expect(rule.ok).toBe(true);
    const target = await motoJson('events', 'AWSEvents.PutTargets', {
      Rule: 'guardian-test-alarm-state-change',
      Targets: [{ Id: 'queue', Arn: queueArn }],
    });
    expect(target.ok).toBe(true);
    const receive = async () =>
      (
        (await (
          await motoJson('sqs', 'AmazonSQS.ReceiveMessage', {
            QueueUrl: queue.QueueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 1,
          })
        ).json()) as { Messages?: { Body: string }[] }
      ).Messages ?? [];

    await client(CloudWatchClient).send(
      new SetAlarmStateCommand({ AlarmName: HIGH_ERROR_RATE, StateValue: 'OK', StateReason: 'recovered' }),
    );
    expect(await receive()).toEqual([]);
    // The rule and its target work: the documented event, put on the bus, reaches the queue.
    const event = alarmEvent('HighErrorRate', 'ALARM');
    const sent = await motoJson('events', 'AWSEvents.PutEvents', {
      Entries: [
        {
          Source: 'aws.cloudwatch',
          DetailType: 'CloudWatch Alarm State Change',
          Detail: JSON.stringify(event.detail),
        },
      ],
    });
    expect(sent.ok).toBe(true);
    const [message] = await receive();
    expect(JSON.parse(message?.Body ?? '{}')).toMatchObject({
      source: 'aws.cloudwatch',
      'detail-type': 'CloudWatch Alarm State Change',
      detail: { alarmName: HIGH_ERROR_RATE, state: { value: 'ALARM' } },
    });
  });
});
