/**
 * The guardian's DynamoDB tables, built from the key constants the store adapter uses, so the
 * deployed tables and the code that reads them cannot drift.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, type CfnTable, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { CONTROL_TABLE, DEPLOYMENTS_TABLE } from '../../lambdas/adapters/tables.ts';

import { TABLE_METADATA_KEY } from '../table-metadata.ts';

// Kept apart from the construct so the local runner reads templates without loading the CDK.
export { TABLE_METADATA_KEY, type TableRole } from '../table-metadata.ts';

/** Properties of {@link GuardianTables}. */
export interface GuardianTablesProps {
  /** Environment name; the tables are named `guardian-<env>-deployments` / `guardian-<env>-control`. */
  readonly environment: string;
  /**
   * What happens to the tables (and their data) when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** Deployments (history, rollback state) and Control (lock, breaker, freezes) tables. */
export class GuardianTables extends Construct {
  /** Deployment and rollback records. */
  readonly deployments: Table;
  /** Lock, circuit breaker and ad-hoc freezes. */
  readonly control: Table;

  constructor(scope: Construct, id: string, props: GuardianTablesProps) {
    super(scope, id);
    if (!/^[a-z0-9-]+$/.test(props.environment)) {
      throw new Error(
        `GuardianTables: environment '${props.environment}' must be a lowercase name (a-z, 0-9, -)`,
      );
    }
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    // Deletion protection follows the removal policy: a retained table must not be dropped by hand either.
    const retained = removalPolicy === RemovalPolicy.RETAIN;
    const common = {
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      deletionProtection: retained,
      removalPolicy,
    } as const;

    this.deployments = new Table(this, 'Deployments', {
      ...common,
      tableName: `guardian-${props.environment}-deployments`,
      partitionKey: { name: DEPLOYMENTS_TABLE.partitionKey, type: AttributeType.STRING },
      sortKey: { name: DEPLOYMENTS_TABLE.sortKey, type: AttributeType.STRING },
    });
    this.deployments.addGlobalSecondaryIndex({
      indexName: DEPLOYMENTS_TABLE.byStartedAtIndex.name,
      partitionKey: { name: DEPLOYMENTS_TABLE.byStartedAtIndex.partitionKey, type: AttributeType.STRING },
      sortKey: { name: DEPLOYMENTS_TABLE.byStartedAtIndex.sortKey, type: AttributeType.STRING },
    });

    this.control = new Table(this, 'Control', {
      ...common,
      tableName: `guardian-${props.environment}-control`,
      partitionKey: { name: CONTROL_TABLE.partitionKey, type: AttributeType.STRING },
      sortKey: { name: CONTROL_TABLE.sortKey, type: AttributeType.STRING },
      timeToLiveAttribute: CONTROL_TABLE.ttlAttribute,
    });

    (this.deployments.node.defaultChild as CfnTable).addMetadata(TABLE_METADATA_KEY, 'deployments');
    (this.control.node.defaultChild as CfnTable).addMetadata(TABLE_METADATA_KEY, 'control');
  }
}
