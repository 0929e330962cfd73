/**
 * The Store port's AWS adapter: DynamoDB with the document client. Only bundles of steps with the
 * store port contain it (see lambdas/ports/table.ts).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Store } from '../core/ports.ts';
import { DynamoStore, type DynamoStoreTables } from './dynamo-store.ts';

/** A DynamoStore on the function's tables (built once per container by the handler). */
export function dynamoStore(tables: DynamoStoreTables): Store {
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  });
  return new DynamoStore(doc, tables);
}
