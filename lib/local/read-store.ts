/**
 * The state service's own store for an environment, on its dynalite tables: what the read path
 * of the CLI (lib/cli/local-read.ts) asks the service for.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoStore } from '../../lambdas/adapters/dynamo-store.ts';
import type { Store } from '../../lambdas/core/ports.ts';
import type { GuardianConfig } from '../config/schema.ts';
import { stackTemplateInfo } from '../template.ts';
import { stackTemplates } from './template-cache.ts';

/** The environment's store on the service's tables; tables a command has not created yet are an error. */
export async function storeFor(
  config: GuardianConfig,
  environment: string,
  endpoint: string,
): Promise<Store> {
  const stack = (await stackTemplates(config))[environment];
  if (!stack) throw new Error(`no stack for environment ${environment}`);
  const info = stackTemplateInfo(stack.template, { region: stack.region, account: '000000000000' });
  const table = (role: string) => {
    const t = info.tables.find((x) => x.role === role);
    if (!t) throw new Error(`stack ${stack.stackName} has no ${role} table`);
    return `${stack.stackName}.${t.logicalId}`;
  };
  const doc = DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint,
      region: 'ap-southeast-1', // as the commands' client (dynalite keeps tables per region)
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
    { marshallOptions: { removeUndefinedValues: true } },
  );
  return new DynamoStore(doc, { deploymentsTable: table('deployments'), controlTable: table('control') });
}
