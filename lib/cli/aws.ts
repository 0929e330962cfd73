/**
 * The CLI's AWS backend: finds the environment's stack outputs (state machines, tables) in
 * CloudFormation, starts executions with Step Functions and reads state from DynamoDB, using
 * the operator's own AWS credentials.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoStore } from '../../lambdas/adapters/dynamo-store.ts';
import { SfnWorkflows } from '../../lambdas/adapters/sfn-workflows.ts';
import type { AlarmHandlerResult } from '../../lambdas/alarm-handler/handler.ts';
import type { HoldDecision } from '../../lambdas/core/canary-hold.ts';
import { escalationTaskOutput, type IncidentActor } from '../../lambdas/core/incidents.ts';
import type { IncidentTransitionResult, Store } from '../../lambdas/core/ports.ts';
import type { WorkloadObservation } from '../../lambdas/core/workload.ts';
import type { HoldDecisionResult } from '../../lambdas/shared/hold.ts';
import { stackNameOf } from '../app.ts';
import type { EnvironmentConfig } from '../config/schema.ts';
import { STACK_OUTPUTS } from '../stacks/outputs.ts';
import { awsWorkload } from './aws-workload.ts';

/** A started execution and where an operator watches it. */
export interface StartedExecution {
  readonly executionArn: string;
  readonly consoleUrl: string;
}

/** How an execution ended, or that it is still running when the wait ran out. */
export interface ExecutionEnd {
  readonly status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED' | 'RUNNING' | string;
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: string;
}

/** What a CLI command needs from wherever the guardian runs. */
export interface GuardianBackend {
  readonly store: Store;
  now(): Date;
  workload?: () => Promise<WorkloadObservation>;
  startDeploy?(input: Record<string, unknown>, name: string): Promise<StartedExecution>;
  startRollback?(input: Record<string, unknown>, name: string): Promise<StartedExecution>;
  /** Runs the deployed alarm handler on `event` (Lambda Invoke) and returns its decision. */
  invokeAlarmHandler?(event: unknown): Promise<AlarmHandlerResult>;
  /** Acknowledges an incident and ends its escalation's wait (SendTaskSuccess). */
  acknowledge?(
    environment: string,
    id: string,
    actor: IncidentActor,
  ): Promise<IncidentTransitionResult & { readonly chainEnded: boolean }>;
  /** Approves or rejects the release a canary analysis holds (SendTaskSuccess / SendTaskFailure). */
  decideHold?(
    environment: string,
    decision: HoldDecision,
    by: string,
    reason: string | undefined,
  ): Promise<HoldDecisionResult>;
  /** Polls the execution until it ends or `timeoutMs` passes (then status RUNNING). */
  waitForExecution?(executionArn: string, timeoutMs: number, pollMs?: number): Promise<ExecutionEnd>;
}

/** The Step Functions console page of an execution. */
export function consoleUrl(region: string, executionArn: string): string {
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

/** Connects the CLI to the environment's deployed stack. */
export async function awsGuardian(env: EnvironmentConfig): Promise<GuardianBackend> {
  const region = env.region;
  const stackName = stackNameOf(env.name);
  const cfn = new CloudFormationClient({ region });
  let outputs: Record<string, string>;
  try {
    const res = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    outputs = Object.fromEntries(
      (res.Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']),
    );
  } catch (err) {
    throw new Error(
      `cannot read stack ${stackName} in ${region} (${(err as Error).message}); is it deployed (npx cdk deploy ${stackName}) and are AWS credentials set? Use --local to run here instead.`,
    );
  }
  const need = (key: string) => {
    const v = outputs[key];
    if (!v)
      throw new Error(
        `stack ${stackName} has no output ${key}; redeploy it with this version of the guardian`,
      );
    return v;
  };
  const store = new DynamoStore(DynamoDBDocumentClient.from(new DynamoDBClient({ region })), {
    deploymentsTable: need(STACK_OUTPUTS.deploymentsTableName),
    controlTable: need(STACK_OUTPUTS.controlTableName),
  });
  const sfn = new SFNClient({ region });
  const start = async (arn: string, input: Record<string, unknown>, name: string) => {
    const res = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: arn, name, input: JSON.stringify(input) }),
    );
    const executionArn = res.executionArn ?? '';
    return { executionArn, consoleUrl: consoleUrl(region, executionArn) };
  };
  return {
    store,
    now: () => new Date(),
    // The same Workload adapter the Lambda functions build, from the port table.
    workload: async () => (await awsWorkload(env)).observe(),
    async invokeAlarmHandler(event) {
      const { LambdaClient, InvokeCommand } = await import('@aws-sdk/client-lambda');
      const res = await new LambdaClient({ region }).send(
        new InvokeCommand({
          FunctionName: need(STACK_OUTPUTS.alarmHandlerFunctionName),
          InvocationType: 'RequestResponse',
          Payload: new TextEncoder().encode(JSON.stringify(event)),
        }),
      );
      const payload = res.Payload ? (JSON.parse(new TextDecoder().decode(res.Payload)) as unknown) : null;
      if (res.FunctionError) {
        const e = payload as { errorType?: string; errorMessage?: string } | null;
        const err = new Error(e?.errorMessage ?? `the alarm handler failed (${res.FunctionError})`);
        err.name = e?.errorType ?? 'AlarmHandlerError';
        throw err;
      }
      return payload as AlarmHandlerResult;
    },
    async decideHold(environment, decision, by, reason) {
      const { decideHold } = await import('../../lambdas/shared/hold.ts');
      // Only SendTaskSuccess/Failure are used: no state machine is started from here.
      const workflows = new SfnWorkflows(sfn, { rollback: '', escalation: '' });
      return decideHold({ store, workflows }, environment, decision, by, reason, new Date());
    },
    async acknowledge(environment, id, actor) {
      const result = await store.transitionIncident(environment, id, 'acknowledged', actor, new Date());
      const token = result.changed ? result.incident.taskToken : undefined;
      if (!token) return { ...result, chainEnded: false };
      // Only succeedTask is used: no state machine is started from here.
      const workflows = new SfnWorkflows(sfn, { rollback: '', escalation: '' });
      return {
        ...result,
        chainEnded: await workflows.succeedTask(token, escalationTaskOutput(result.incident)),
      };
    },
    startDeploy: (input, name) => start(need(STACK_OUTPUTS.deployStateMachineArn), input, name),
    startRollback: (input, name) => start(need(STACK_OUTPUTS.rollbackStateMachineArn), input, name),
    async waitForExecution(executionArn, timeoutMs, pollMs = 2000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const d = await sfn.send(new DescribeExecutionCommand({ executionArn }));
        const status = d.status ?? 'RUNNING';
        if (status !== 'RUNNING' && status !== 'PENDING_REDRIVE') {
          return {
            status,
            ...(d.output ? { output: JSON.parse(d.output) as unknown } : {}),
            ...(d.error ? { error: d.error } : {}),
            ...(d.cause ? { cause: d.cause } : {}),
          };
        }
        if (Date.now() + pollMs > deadline) return { status: 'RUNNING' };
        await new Promise((resolve) => setTimeout(resolve, pollMs));
      }
    },
  };
}
