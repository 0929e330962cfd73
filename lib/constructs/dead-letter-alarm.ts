/**
 * An alarm on a dead-letter queue: one message waiting there is one event nobody handled, so the
 * alarm fires on the first and recovers when an operator has dealt with them all.
 */
import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

/** Properties of {@link DeadLetterAlarm}. */
export interface DeadLetterAlarmProps {
  /** The dead-letter queue watched. */
  readonly queue: IQueue;
  /** Alarm name, e.g. `guardian-staging-execution-ended-dead-letters`. */
  readonly alarmName: string;
  /** What a waiting message means and what the operator does about it (the notification's text). */
  readonly description: string;
}

/** Alarms while `ApproximateNumberOfMessagesVisible` of the queue is above 0. */
export class DeadLetterAlarm extends Alarm {
  constructor(scope: Construct, id: string, props: DeadLetterAlarmProps) {
    if (props.description.trim() === '') {
      throw new Error(
        `DeadLetterAlarm: ${props.alarmName} needs a description that tells the operator what to do`,
      );
    }
    super(scope, id, {
      alarmName: props.alarmName,
      alarmDescription: props.description,
      // SQS publishes queue metrics every minute; one message in any minute is enough.
      metric: props.queue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: 'Maximum',
      }),
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      // SQS stops reporting an idle, empty queue's metrics: no data means no dead letters.
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }
}
