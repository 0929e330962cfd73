/**
 * The escalation's AWS adapters, built by the port table's AWS factories exactly as in Lambda,
 * against moto server: Secrets Manager GetSecretValue (cached per container, a missing secret
 * named) and SNS Publish (delivered by moto to an HTTP subscriber on loopback). Gaps of moto:
 * none for these calls; KMS-encrypted topics are not exercised (moto does not encrypt).
 */
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECRET_CACHE_MS } from '../../lambdas/adapters/secrets.ts';
import { NotFoundError } from '../../lambdas/core/errors.ts';
import type { Notifier, Secrets } from '../../lambdas/core/ports.ts';
import { ENV_VARS, PORTS, type PortBuildContext } from '../../lambdas/ports/table.ts';
import { loadConfig } from '../../lib/config/load.ts';
import type { EnvironmentConfig } from '../../lib/config/schema.ts';
import { SimulatedClock } from '../../lib/local/clock.ts';
import { type Moto, startMoto, useMotoEnvironment } from '../helpers/moto.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

const REGION = 'ap-southeast-1';
let moto: Moto | undefined;
let endpoint = '';
let receiver: Receiver;
let restoreEnv: () => void = () => undefined;

beforeAll(async () => {
  moto = await startMoto();
  endpoint = moto.endpoint;
  // The SDK clients the factories build (`new SecretsManagerClient({})`) find moto through these.
  restoreEnv = useMotoEnvironment(endpoint, REGION);
  receiver = await startReceiver();
});

afterAll(async () => {
  restoreEnv();
  moto?.stop();
  await receiver?.close();
});

const prod = loadConfig().environments.production as EnvironmentConfig;

function ctx(
  config: EnvironmentConfig,
  clock: SimulatedClock,
  vars: Record<string, string> = {},
): PortBuildContext {
  return { config, clock, vars };
}

describe('escalation on AWS APIs (moto)', () => {
  it('reads a secret through the secrets port and keeps it for the container until the cache expires', async () => {
    const sm = new SecretsManagerClient({ region: REGION, endpoint });
    const name = 'guardian/production/slack-webhook';
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'https://hooks.example.com/one\n' }));
    const clock = new SimulatedClock(new Date('2026-12-03T02:00:00Z'));
    const secrets = (await PORTS.secrets.aws(ctx(prod, clock))) as Secrets;
    expect(await secrets.get(name)).toBe('https://hooks.example.com/one');
    await sm.send(
      new PutSecretValueCommand({ SecretId: name, SecretString: 'https://hooks.example.com/two' }),
    );
    expect(await secrets.get(name)).toBe('https://hooks.example.com/one');
    clock.advance(SECRET_CACHE_MS / 1000);
    expect(await secrets.get(name)).toBe('https://hooks.example.com/two');
  });

  it('names a secret that does not exist and how to create it', async () => {
    const secrets = (await PORTS.secrets.aws(ctx(prod, new SimulatedClock()))) as Secrets;
    const read = secrets.get('guardian/production/pagerduty-routing-key');
    await expect(read).rejects.toThrow(NotFoundError);
    await expect(read).rejects.toThrow(
      'secret guardian/production/pagerduty-routing-key does not exist in this account and region; create it (aws secretsmanager create-secret --name guardian/production/pagerduty-routing-key',
    );
  });

  it("publishes to the stack's topic through the notifier port, and moto delivers it to a subscriber", async () => {
    const sns = new SNSClient({ region: REGION, endpoint });
    const topicArn =
      (await sns.send(new CreateTopicCommand({ Name: 'guardian-production-alarms' }))).TopicArn ?? '';
    await sns.send(
      new SubscribeCommand({ TopicArn: topicArn, Protocol: 'http', Endpoint: `${receiver.url}/sns` }),
    );
    const config: EnvironmentConfig = {
      ...prod,
      escalation: { ...prod.escalation, channels: { sns: { topic: 'stack' } } },
    };
    const notifier = (await PORTS.notifier.aws(
      ctx(config, new SimulatedClock(), { [ENV_VARS.escalationTopic]: topicArn }),
    )) as Notifier;
    const results = await notifier.deliver(
      { sns: { subject: '[P1] HighErrorRate in production', message: 'Who to call: on-call' } },
      {},
    );
    expect(results).toEqual([{ channel: 'sns', delivered: true, attempts: 1 }]);
    const notifications = receiver
      .received('/sns')
      .map((r) => r.json as { Type?: string; Subject?: string; Message?: string; TopicArn?: string })
      .filter((n) => n.Type === 'Notification');
    expect(notifications).toEqual([
      expect.objectContaining({
        TopicArn: topicArn,
        Subject: '[P1] HighErrorRate in production',
        Message: 'Who to call: on-call',
      }),
    ]);
  });

  it('reports a topic that does not exist without throwing', async () => {
    const config: EnvironmentConfig = {
      ...prod,
      escalation: {
        ...prod.escalation,
        channels: { sns: { topic: 'arn:aws:sns:ap-southeast-1:123456789012:missing' } },
      },
    };
    const notifier = (await PORTS.notifier.aws(ctx(config, new SimulatedClock()))) as Notifier;
    const [result] = await notifier.deliver({ sns: { subject: 's', message: 'm' } }, {});
    expect(result).toMatchObject({ channel: 'sns', delivered: false, attempts: 1 });
    expect(result?.error).toMatch(/^SNS Publish failed: NotFound/);
  });
});
