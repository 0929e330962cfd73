/**
 * The SNS topic an environment's guardian alarms notify: KMS-encrypted with a key CloudWatch may
 * use, TLS-only, with the subscribers from config and a dead-letter queue for deliveries that fail.
 */
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { Alarm } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Subscription as SnsSubscription, SubscriptionProtocol, Topic } from 'aws-cdk-lib/aws-sns';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { Subscription } from '../config/schema.ts';
import { DeadLetterAlarm } from './dead-letter-alarm.ts';

/** How long undelivered notifications are kept: the SQS maximum, time for an operator to look. */
const DELIVERY_DEAD_LETTER_RETENTION = Duration.days(14);

const PROTOCOLS: Readonly<Record<Subscription['protocol'], SubscriptionProtocol>> = {
  email: SubscriptionProtocol.EMAIL,
  https: SubscriptionProtocol.HTTPS,
  sqs: SubscriptionProtocol.SQS,
  lambda: SubscriptionProtocol.LAMBDA,
};

/** Properties of {@link AlarmTopic}. */
export interface AlarmTopicProps {
  /** Environment name; the topic is `guardian-<env>-alarms`. */
  readonly environment: string;
  /**
   * Who is notified. SQS and Lambda endpoints must themselves allow `sns.amazonaws.com` from the
   * topic (queue policy, `lambda add-permission`); email subscribers confirm by mail.
   * @default no subscribers (operators subscribe to the `AlarmTopicArn` output)
   */
  readonly subscriptions?: readonly Subscription[];
  /**
   * What happens to the topic, its key and its dead-letter queue when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** `guardian-<env>-alarms`: where the guardian's own alarms go, and back to OK. */
export class AlarmTopic extends Construct {
  /** The topic. */
  readonly topic: Topic;
  /** The customer managed key the topic is encrypted with (rotated yearly). */
  readonly key: Key;
  /** Notifications SNS could not deliver after its retries; only when there are subscribers. */
  readonly deliveryDeadLetterQueue?: Queue;
  /** Alarm on {@link deliveryDeadLetterQueue}; it notifies the topic too, so other subscribers hear. */
  readonly deliveryDeadLetterAlarm?: Alarm;

  constructor(scope: Construct, id: string, props: AlarmTopicProps) {
    super(scope, id);
    if (!/^[a-z0-9-]+$/.test(props.environment)) {
      throw new Error(
        `AlarmTopic: environment '${props.environment}' must be a lowercase name (a-z, 0-9, -)`,
      );
    }
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const stack = Stack.of(this);
    const topicName = `guardian-${props.environment}-alarms`;

    // Not the AWS managed alias/aws/sns key: its policy cannot let CloudWatch publish.
    this.key = new Key(this, 'Key', {
      description: `Deployment Guardian (${props.environment}): encrypts the ${topicName} SNS topic`,
      enableKeyRotation: true,
      removalPolicy,
    });
    // CloudWatch encrypts the alarm notification it publishes with the topic's key.
    this.key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsPublishToTheTopic',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );

    this.topic = new Topic(this, 'Topic', {
      topicName,
      displayName: `Deployment Guardian (${props.environment})`,
      masterKey: this.key,
      enforceSSL: true,
    });
    this.topic.applyRemovalPolicy(removalPolicy);
    // The topic policy replaces SNS's default one, so CloudWatch needs its own statement; the
    // conditions keep other accounts' alarms (confused deputy) out.
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsOfThisAccount',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
          StringEquals: { 'aws:SourceAccount': stack.account },
        },
      }),
    );

    const subscriptions = props.subscriptions ?? [];
    if (subscriptions.length === 0) return;
    this.deliveryDeadLetterQueue = new Queue(this, 'DeliveryDeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: DELIVERY_DEAD_LETTER_RETENTION,
      removalPolicy,
    });
    const seen = new Set<string>();
    for (const s of subscriptions) {
      // Keyed by endpoint, not position: reordering the list does not replace (and unconfirm) anything.
      const key = `${s.protocol} ${s.endpoint}`;
      if (seen.has(key)) {
        throw new Error(`AlarmTopic: ${topicName} lists ${key} twice; list each subscriber once`);
      }
      seen.add(key);
      new SnsSubscription(this, key, {
        topic: this.topic,
        protocol: PROTOCOLS[s.protocol],
        endpoint: s.endpoint,
        deadLetterQueue: this.deliveryDeadLetterQueue,
      });
    }
    this.deliveryDeadLetterAlarm = new DeadLetterAlarm(this, 'DeliveryDeadLettersAlarm', {
      queue: this.deliveryDeadLetterQueue,
      alarmName: `${topicName}-undelivered`,
      description:
        `${topicName} could not deliver notifications to a subscriber after SNS's retries; they wait in ` +
        'its dead-letter queue for 14 days. Check the endpoint (confirmed? reachable? allows the topic?), ' +
        'read the messages for the alarms that were missed, then purge the queue.',
    });
    this.notify(this.deliveryDeadLetterAlarm);
  }

  /** Notifies the topic when `alarm` goes to ALARM and when it is back to OK. */
  notify(alarm: Alarm): void {
    const action = new SnsAction(this.topic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
  }
}
