/** The Workflows port on AWS Step Functions (StartExecution, SendTaskFailure). */
import {
  ExecutionAlreadyExists,
  InvalidToken,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  TaskDoesNotExist,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { TransientError } from '../core/errors.ts';
import type { StartableWorkflow, Workflows } from '../core/ports.ts';
import { isTransientAwsError } from './transient.ts';

/** Throttles, 5xx and network errors become TransientError (retried by EventBridge / the state machine). */
function classifyAwsError(err: unknown, what: string): unknown {
  if (!isTransientAwsError(err)) return err;
  const e = err as { name?: string; message?: string };
  return new TransientError(
    `Step Functions: ${what} failed (${e.name}): ${e.message ?? ''}; retrying is safe`,
    {
      cause: err,
    },
  );
}

/** The ARN an execution named `name` of `stateMachineArn` has (or will have). */
export function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

/** Step Functions caps `cause` at 32,768 characters and `error` at 256. */
const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** Workflows on Step Functions: the environment's state machines by kind. */
export class SfnWorkflows implements Workflows {
  constructor(
    private readonly client: SFNClient,
    private readonly stateMachines: Readonly<Record<StartableWorkflow, string>>,
  ) {}

  async start(kind: StartableWorkflow, name: string, input: unknown) {
    const stateMachineArn = this.stateMachines[kind];
    try {
      const out = await this.client.send(
        new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }),
      );
      return { executionArn: out.executionArn ?? executionArnOf(stateMachineArn, name), started: true };
    } catch (err) {
      // Same name, same input: the execution a duplicate event already started.
      if (err instanceof ExecutionAlreadyExists) {
        return { executionArn: executionArnOf(stateMachineArn, name), started: false };
      }
      throw classifyAwsError(err, `starting ${kind} execution ${name}`);
    }
  }

  async failTask(token: string, error: string, cause: string): Promise<boolean> {
    try {
      await this.client.send(
        new SendTaskFailureCommand({ taskToken: token, error: clip(error, 256), cause: clip(cause, 32_768) }),
      );
      return true;
    } catch (err) {
      if (err instanceof TaskDoesNotExist || err instanceof TaskTimedOut || err instanceof InvalidToken)
        return false;
      throw classifyAwsError(err, 'failing a waiting task');
    }
  }

  async succeedTask(token: string, output: unknown): Promise<boolean> {
    try {
      await this.client.send(
        new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify(output) }),
      );
      return true;
    } catch (err) {
      if (err instanceof TaskDoesNotExist || err instanceof TaskTimedOut || err instanceof InvalidToken)
        return false;
      throw classifyAwsError(err, 'ending a waiting task');
    }
  }
}

/** The adapter as the port table builds it. */
export function sfnWorkflows(stateMachines: Readonly<Record<StartableWorkflow, string>>): Workflows {
  return new SfnWorkflows(new SFNClient({}), stateMachines);
}
