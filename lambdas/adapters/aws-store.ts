/**
 * The Store port of a Lambda function with table access, on DynamoDB. Imported only by the
 * handlers of steps that use the store, so the others bundle no DynamoDB client.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { RuntimeEnvWithTables } from '../core/runtime-env.ts';
import { DynamoStore } from './dynamo-store.ts';
import type { Store } from './ports.ts';

/** A DynamoStore on the function's tables (one client per container: the caller memoizes). */
export function dynamoStoreFromEnv(env: RuntimeEnvWithTables): Store {
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  });
  return new DynamoStore(doc, { deploymentsTable: env.deploymentsTable, controlTable: env.controlTable });
}
