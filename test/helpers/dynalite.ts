/**
 * A real DynamoDB API for tests: dynalite on 127.0.0.1, with the guardian's two tables created
 * from the key schema in `lambdas/adapters/tables.ts`.
 */
import { createRequire } from 'node:module';
import type { AddressInfo, Server } from 'node:net';
import { CreateTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoStore, type DynamoStoreTables } from '../../lambdas/adapters/dynamo-store.ts';
import { CONTROL_TABLE, DEPLOYMENTS_TABLE } from '../../lambdas/adapters/tables.ts';

// dynalite ships no types; this is the slice of its API the tests use.
const dynalite = createRequire(import.meta.url)('dynalite') as (options: {
  createTableMs: number;
  deleteTableMs: number;
  updateTableMs: number;
}) => Server;

/** A running dynalite with the guardian's tables. */
export interface LocalDynamo {
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  readonly doc: DynamoDBDocumentClient;
  readonly tables: DynamoStoreTables;
  readonly store: DynamoStore;
  close(): Promise<void>;
}

/** Creates the Deployments and Control tables (key schema from `lambdas/adapters/tables.ts`). */
export async function createGuardianTables(client: DynamoDBClient, tables: DynamoStoreTables): Promise<void> {
  const d = DEPLOYMENTS_TABLE;
  await client.send(
    new CreateTableCommand({
      TableName: tables.deploymentsTable,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: d.partitionKey, AttributeType: 'S' },
        { AttributeName: d.sortKey, AttributeType: 'S' },
        { AttributeName: d.byStartedAtIndex.sortKey, AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: d.partitionKey, KeyType: 'HASH' },
        { AttributeName: d.sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: d.byStartedAtIndex.name,
          KeySchema: [
            { AttributeName: d.byStartedAtIndex.partitionKey, KeyType: 'HASH' },
            { AttributeName: d.byStartedAtIndex.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    }),
  );
  await client.send(
    new CreateTableCommand({
      TableName: tables.controlTable,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: CONTROL_TABLE.partitionKey, AttributeType: 'S' },
        { AttributeName: CONTROL_TABLE.sortKey, AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: CONTROL_TABLE.partitionKey, KeyType: 'HASH' },
        { AttributeName: CONTROL_TABLE.sortKey, KeyType: 'RANGE' },
      ],
    }),
  );
}

/** Starts dynalite on a free port and creates the Deployments and Control tables. */
export async function startLocalDynamo(): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const tables = { deploymentsTable: 'guardian-deployments', controlTable: 'guardian-control' };
  await createGuardianTables(client, tables);
  for (const TableName of Object.values(tables)) {
    await waitUntilTableExists({ client, maxWaitTime: 30, minDelay: 1 }, { TableName });
  }
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  return {
    endpoint,
    client,
    doc,
    tables,
    store: new DynamoStore(doc, tables),
    async close() {
      client.destroy();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}
