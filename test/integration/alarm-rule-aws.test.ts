/**
 * The AlarmStateChange rule's event pattern, exactly as the stacks synthesize it, against moto
 * server's EventBridge pattern matcher: the real-format alarm events of test/fixtures/alarm-events
 * (and variants of them) reach the alarm handler of the environment they belong to and no other,
 * and the guardian's alarms about itself (dead-letter queues, workflows, alarm topic) never do.
 * Every event the handler's own resolver assigns to an environment is matched by that
 * environment's rule, so the rule never hides an alarm the handler would act on.
 *
 * Gaps of moto: TestEventPattern is not implemented (moto 5.2.5 raises NotImplementedError), so
 * each pattern is put on its own moto event bus as a rule with an SQS target, the events are sent
 * with PutEvents, and a match is a message in the queue (moto matches and delivers inside the
 * PutEvents call). moto does not reserve `aws.*` sources for AWS as EventBridge does. The calls are
 * plain AWS JSON-protocol requests: the guardian depends on no EventBridge or SQS client.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alarmEnvironmentOf, resolveAlarm } from '../../lambdas/core/alarm-decision.ts';
import { parseAlarmEvent } from '../../lambdas/core/alarm-event.ts';
import { buildApp } from '../../lib/app.ts';
import { loadConfig } from '../../lib/config/load.ts';
import type { EnvironmentConfig, GuardianConfig } from '../../lib/config/schema.ts';
import { alarmFixture } from '../helpers/alarm-events.ts';
import { type Moto, startMoto } from '../helpers/moto.ts';

const REGION = 'ap-southeast-1';
let moto: Moto | undefined;
let endpoint = '';

/** One AWS JSON-protocol call to moto (the Authorization header only tells moto which service). */
async function call(
  service: 'events' | 'sqs',
  operation: string,
  body: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const [prefix, version] = service === 'events' ? ['AWSEvents', '1.1'] : ['AmazonSQS', '1.0'];
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'Content-Type': `application/x-amz-json-${version}`,
      'X-Amz-Target': `${prefix}.${operation}`,
      Authorization: `AWS4-HMAC-SHA256 Credential=testing/20261203/${REGION}/${service}/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${service} ${operation} answered ${res.status}: ${text}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

/** A rule with `pattern` on a bus of its own, delivering to a queue of its own. */
interface PatternProbe {
  readonly bus: string;
  readonly queueUrl: string;
}

let probes = 0;
async function probe(pattern: unknown): Promise<PatternProbe> {
  const n = ++probes;
  const bus = `guardian-probe-${n}`;
  await call('events', 'CreateEventBus', { Name: bus });
  const queueUrl = String((await call('sqs', 'CreateQueue', { QueueName: `guardian-probe-${n}` })).QueueUrl);
  const queueArn = `arn:aws:sqs:${REGION}:123456789012:guardian-probe-${n}`;
  await call('events', 'PutRule', {
    Name: 'AlarmStateChange',
    EventBusName: bus,
    EventPattern: JSON.stringify(pattern),
  });
  await call('events', 'PutTargets', {
    Rule: 'AlarmStateChange',
    EventBusName: bus,
    Targets: [{ Id: 'Target0', Arn: queueArn }],
  });
  return { bus, queueUrl };
}

/** Whether the probe's rule matched `event` (a full EventBridge event, as the fixtures are). */
async function matches(p: PatternProbe, event: Record<string, unknown>): Promise<boolean> {
  const put = await call('events', 'PutEvents', {
    Entries: [
      {
        EventBusName: p.bus,
        Source: event.source,
        DetailType: event['detail-type'],
        Resources: event.resources ?? [],
        Detail: JSON.stringify(event.detail),
      },
    ],
  });
  const [entry] = put.Entries as { EventId?: string; ErrorCode?: string }[];
  if (!entry?.EventId) throw new Error(`PutEvents refused the event: ${JSON.stringify(put)}`);
  const received = await call('sqs', 'ReceiveMessage', {
    QueueUrl: p.queueUrl,
    MaxNumberOfMessages: 10,
    WaitTimeSeconds: 0,
  });
  const messages = (received.Messages ?? []) as { Body: string; ReceiptHandle: string }[];
  for (const m of messages)
    await call('sqs', 'DeleteMessage', { QueueUrl: p.queueUrl, ReceiptHandle: m.ReceiptHandle });
  const ids = messages.map((m) => (JSON.parse(m.Body) as { id?: string }).id);
  expect(
    ids.filter((id) => id !== entry.EventId),
    'messages of other events',
  ).toEqual([]);
  return ids.includes(entry.EventId);
}

/** A fixture with `detail` edited (alarm name, tags); the rest stays as published. */
function variant(
  name: string,
  edit: { alarmName?: string; tags?: Record<string, string> | null; detailType?: string },
): Record<string, unknown> {
  const event = alarmFixture(name);
  const detail = event.detail as Record<string, unknown>;
  if (edit.alarmName !== undefined) detail.alarmName = edit.alarmName;
  if (edit.tags === null) {
    delete detail.alarmTags;
    delete detail.alarmTagsStatus;
  } else if (edit.tags) {
    detail.alarmTags = edit.tags;
    detail.alarmTagsStatus = 'SUCCESS';
  }
  if (edit.detailType) event['detail-type'] = edit.detailType;
  return event;
}

const FIXTURES = [
  'single-metric',
  'metric-math',
  'anomaly-detection',
  'composite',
  'metrics-insights',
  'contributor-state-change',
  'configuration-change',
  'guardian-high-error-rate-alarm',
  'guardian-high-error-rate-ok',
  'guardian-degraded-alarm',
] as const;
const GUARDIAN_PRODUCTION = [
  'guardian-high-error-rate-alarm',
  'guardian-high-error-rate-ok',
  'guardian-degraded-alarm',
];

const config = loadConfig();
const production = config.environments.production as EnvironmentConfig;

/** The synthesized AlarmStateChange pattern and the guardian's own (untagged) alarm names of each stack. */
function synthesizedRules(c: GuardianConfig): Record<string, { pattern: unknown; ownAlarms: string[] }> {
  const { stacks } = buildApp({ config: c, bundle: false, nag: false });
  const out: Record<string, { pattern: unknown; ownAlarms: string[] }> = {};
  for (const [env, stack] of Object.entries(stacks)) {
    const t = Template.fromStack(stack);
    const rules = Object.values(t.findResources('AWS::Events::Rule')).filter(
      (r) => JSON.stringify(r.Properties.EventPattern.source) === '["aws.cloudwatch"]',
    );
    expect(rules, env).toHaveLength(1);
    const ownAlarms = Object.values(t.findResources('AWS::CloudWatch::Alarm'))
      .filter((a) => !(a.Properties.Tags ?? []).some((tag: { Key: string }) => tag.Key === 'environment'))
      .map((a) => a.Properties.AlarmName as string);
    out[env] = { pattern: rules[0]?.Properties.EventPattern, ownAlarms };
  }
  return out;
}

const shipped = synthesizedRules(config);
// An environment named `prod` (every alarm of an environment `prod-eu` starts with `guardian-prod-`) that also
// watches an alarm the team already has: the AWS documentation's ServerCpuTooHigh.
const prodEnv: EnvironmentConfig = {
  ...production,
  name: 'prod',
  alarms: { ...production.alarms, existing: [{ name: 'ServerCpuTooHigh', severity: 'critical' }] },
};
const variantRules = synthesizedRules({
  environments: { prod: prodEnv },
  stacks: { prod: config.stacks.production as NonNullable<GuardianConfig['stacks'][string]> },
});

const probeOf: Record<string, PatternProbe> = {};

beforeAll(async () => {
  moto = await startMoto();
  endpoint = moto.endpoint;
  for (const [env, rule] of Object.entries({ ...shipped, ...variantRules }))
    probeOf[env] = await probe(rule.pattern);
});

afterAll(() => {
  moto?.stop();
});

const probeFor = (env: string): PatternProbe => {
  const p = probeOf[env];
  if (!p) throw new Error(`no probe for ${env}`);
  return p;
};

describe('AlarmStateChange rule on an EventBridge bus (moto)', () => {
  it.each(FIXTURES)(
    'hands %s to the production alarm handler only if it is a production alarm',
    async (name) => {
      const event = alarmFixture(name);
      expect(await matches(probeFor('production'), event)).toBe(GUARDIAN_PRODUCTION.includes(name));
      expect(await matches(probeFor('staging'), event)).toBe(false);
    },
  );

  it.each(['production', 'staging'])(
    "never hands the %s alarm handler the guardian's alarms about itself (dead letters, workflows, topic)",
    async (env) => {
      const own = shipped[env]?.ownAlarms ?? [];
      expect(own).toContain(`guardian-${env}-alarm-handler-dead-letters`);
      expect(own).toContain(`guardian-${env}-rollback-failed`);
      for (const alarmName of own) {
        // As CloudWatch sends them: no tag propagation on these alarms, so no alarmTags.
        const event = variant('single-metric', { alarmName, tags: null });
        expect(await matches(probeFor(env), event), alarmName).toBe(false);
      }
    },
  );

  it('hands over an alarm of any name tagged with the environment, and not one tagged with another', async () => {
    const tags = { environment: 'production', service: 'buywhere-api', severity: 'critical' };
    const tagged = variant('single-metric', { alarmName: 'team-api-5xx', tags });
    expect(await matches(probeFor('production'), tagged)).toBe(true);
    expect(await matches(probeFor('staging'), tagged)).toBe(false);
    const staging = variant('guardian-high-error-rate-alarm', {
      alarmName: 'guardian-staging-HighErrorRate',
      tags: { ...tags, environment: 'staging' },
    });
    expect(await matches(probeFor('staging'), staging)).toBe(true);
    expect(await matches(probeFor('production'), staging)).toBe(false);
  });

  it('recognises the guardian alarms by name when CloudWatch could not attach their tags', async () => {
    const untagged = variant('guardian-high-error-rate-alarm', { tags: null });
    expect(await matches(probeFor('production'), untagged)).toBe(true);
  });

  it('ignores configuration changes of a watched alarm: only state changes are delivered', async () => {
    const change = variant('configuration-change', { alarmName: 'guardian-production-HighErrorRate' });
    expect(change['detail-type']).toBe('CloudWatch Alarm Configuration Change');
    expect(await matches(probeFor('production'), change)).toBe(false);
  });

  it('matches prod by exact names: prod-eu alarms stay out, an existing alarm of prod is in', async () => {
    const prod = probeFor('prod');
    expect(
      await matches(
        prod,
        variant('guardian-high-error-rate-alarm', { alarmName: 'guardian-prod-HighErrorRate', tags: null }),
      ),
    ).toBe(true);
    expect(
      await matches(
        prod,
        variant('guardian-high-error-rate-alarm', {
          alarmName: 'guardian-prod-eu-HighErrorRate',
          tags: null,
        }),
      ),
    ).toBe(false);
    expect(
      await matches(
        prod,
        variant('guardian-degraded-alarm', { alarmName: 'guardian-prod-eu-Degraded', tags: null }),
      ),
    ).toBe(false);
    expect(await matches(prod, alarmFixture('single-metric'))).toBe(true);
  });

  it("delivers every event the handler's resolver assigns to an environment to that environment's rule", async () => {
    const events = [
      ...FIXTURES.map((f) => alarmFixture(f)),
      variant('single-metric', {
        alarmName: 'team-api-5xx',
        tags: { environment: 'production', service: 'buywhere-api', severity: 'critical' },
      }),
      variant('guardian-high-error-rate-alarm', { tags: null }),
    ];
    const environments = { ...config.environments, prod: prodEnv };
    let resolved = 0;
    for (const event of events) {
      const parsed = parseAlarmEvent(event);
      if (!parsed.ok) continue;
      for (const [name, env] of Object.entries(environments)) {
        // The account and region of the stack's bus: the handler then decides by name and tags.
        const local = { ...parsed.event, account: env.account, region: env.region };
        const resolution = resolveAlarm(local, [alarmEnvironmentOf(env)]);
        if (!resolution.resolved) continue;
        resolved++;
        expect(await matches(probeFor(name), event), `${String(event.id)} for ${name}`).toBe(true);
      }
    }
    expect(resolved).toBeGreaterThanOrEqual(GUARDIAN_PRODUCTION.length + 3);
  });
});
