/**
 * AWS wiring of the step ports: built once per Lambda container from the function's
 * environment variables (see `ENV_VARS`), then reused by every invocation.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { parseRuntimeEnv } from '../core/runtime-env.ts';
import type { StepDeps } from '../shared/step.ts';
import { DynamoStore } from './dynamo-store.ts';
import { eksClusterProvider } from './eks.ts';
import { httpGet } from './http.ts';
import { systemClock } from './ports.ts';

/** Builds the AWS ports; throws naming the variable (and zod path) when the wiring is wrong. */
export async function createAwsDeps(logger: Logger): Promise<StepDeps> {
  const env = parseRuntimeEnv(process.env);
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  });
  logger.appendKeys({ environment: env.config.name });
  return {
    config: env.config,
    store: new DynamoStore(doc, { deploymentsTable: env.deploymentsTable, controlTable: env.controlTable }),
    cluster: eksClusterProvider(env.config),
    httpGet,
    clock: systemClock,
    logger,
  };
}
