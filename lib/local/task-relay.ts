/**
 * SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat and StopExecution between local
 * processes. A local execution runs in the process that started it (a `guardian` command), while
 * what completes its task — `guardian ack`, an alarm replayed by another command — may run in
 * another; in AWS both would just call Step Functions. Here the folder's local state service
 * stands in for it as a broker:
 *
 * - a process that runs executions serves a small loopback endpoint ({@link serveWorkflows}),
 *   registers it with the service, and registers every task token before the task's function is
 *   given it (so a token read from the store by another process is always routable);
 * - any process sends through the service ({@link sendThroughService}); the service forwards a
 *   token to the process that registered it and a stop to every registered process until one
 *   runs that execution ({@link workflowBroker}).
 *
 * Answers carry Step Functions' error names (`InvalidToken`, `TaskDoesNotExist`, `TaskTimedOut`,
 * `ExecutionDoesNotExist`, `InvalidArn`) and are rethrown as the same errors on the sending side.
 * A token whose process has died answers `TaskTimedOut`: its execution ended with that process.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  malformedTaskToken,
  StopExecutionError,
  type StopExecutionResult,
  TaskTokenError,
} from './task-tokens.ts';

/** What a process running local executions answers for: only its own tokens and executions. */
export interface LocalWorkflows {
  sendTaskSuccess(token: string, output: unknown): void | Promise<void>;
  sendTaskFailure(token: string, error: string, cause?: string): void | Promise<void>;
  sendTaskHeartbeat(token: string): void | Promise<void>;
  stopExecution(executionArn: string, error?: string, cause?: string): Promise<StopExecutionResult>;
}

/** One Step Functions call made through the local state service. */
export type WorkflowRequest =
  | { readonly op: 'sendTaskSuccess'; readonly token: string; readonly output: unknown }
  | {
      readonly op: 'sendTaskFailure';
      readonly token: string;
      readonly error: string;
      readonly cause?: string;
    }
  | { readonly op: 'sendTaskHeartbeat'; readonly token: string }
  | {
      readonly op: 'stopExecution';
      readonly executionArn: string;
      readonly error?: string;
      readonly cause?: string;
    };

/** The answer to a {@link WorkflowRequest} as it crosses processes. */
type Answer =
  | { readonly ok: true; readonly stopDate?: string }
  | { readonly error: { readonly name: string; readonly message: string } };

/** What {@link serveWorkflows} returns. */
export interface WorkflowsRelay {
  /** Makes `token` reachable from other processes; resolves once the service knows it. */
  registerToken(token: string): Promise<void>;
  /** Stops serving. */
  close(): Promise<void>;
}

const FORWARD_TIMEOUT_MS = 30_000;

async function post(url: string, body: unknown): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
    signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(text || `${url} answered ${res.status}`);
  return text ? JSON.parse(text) : undefined;
}

async function jsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
}

/** `err` as an answer, keeping its Step Functions name. */
function failure(err: unknown): Answer {
  const e = err instanceof Error ? err : new Error(String(err));
  return { error: { name: e.name, message: e.message } };
}

/** Carries out `request` on `target` (this process's executions only). */
async function carryOut(target: LocalWorkflows, request: WorkflowRequest): Promise<Answer> {
  try {
    switch (request.op) {
      case 'sendTaskSuccess':
        await target.sendTaskSuccess(request.token, request.output);
        return { ok: true };
      case 'sendTaskFailure':
        await target.sendTaskFailure(request.token, request.error, request.cause);
        return { ok: true };
      case 'sendTaskHeartbeat':
        await target.sendTaskHeartbeat(request.token);
        return { ok: true };
      case 'stopExecution': {
        const { stopDate } = await target.stopExecution(request.executionArn, request.error, request.cause);
        return { ok: true, stopDate: stopDate.toISOString() };
      }
      default:
        return failure(new Error(`unknown request ${JSON.stringify(request)}`));
    }
  } catch (err) {
    return failure(err);
  }
}

/**
 * Serves this process's executions to the state service at `controlUrl`: a loopback endpoint
 * registered under this process id. It never keeps the process alive by itself.
 */
export async function serveWorkflows(controlUrl: string, target: LocalWorkflows): Promise<WorkflowsRelay> {
  const server = createServer((req, res) => {
    jsonBody(req)
      .then((body) => carryOut(target, body as WorkflowRequest))
      .then((answer) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer));
      })
      .catch((err: Error) => {
        res.writeHead(400, { 'content-type': 'text/plain' });
        res.end(err.message);
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.unref();
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    await post(`${controlUrl}/workflows/endpoint`, { pid: process.pid, url });
  } catch (err) {
    server.close();
    throw err;
  }
  return {
    registerToken: async (token) => {
      await post(`${controlUrl}/workflows/token`, { token, pid: process.pid });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The error an answer names, as the in-process executor would have thrown it. */
function rethrown(error: { name: string; message: string }): Error {
  switch (error.name) {
    case 'InvalidToken':
    case 'TaskDoesNotExist':
    case 'TaskTimedOut':
      return new TaskTokenError(error.name, error.message);
    case 'ExecutionDoesNotExist':
    case 'InvalidArn':
      return new StopExecutionError(error.name, error.message);
    default: {
      const err = new Error(error.message);
      err.name = error.name;
      return err;
    }
  }
}

/**
 * Sends `request` through the state service at `controlUrl` to whichever process runs the task
 * or execution. Throws the Step Functions error (TaskTokenError, StopExecutionError) if refused.
 */
export async function sendThroughService(
  controlUrl: string,
  request: WorkflowRequest,
): Promise<{ readonly stopDate?: Date }> {
  const answer = (await post(`${controlUrl}/workflows/send`, request)) as Answer;
  if ('error' in answer) throw rethrown(answer.error);
  return answer.stopDate === undefined ? {} : { stopDate: new Date(answer.stopDate) };
}

/**
 * The state service's side: which process registered which token, and where each process is.
 * `handle` answers the `/workflows/...` requests, or returns undefined for any other path.
 */
export function workflowBroker(): {
  handle(path: string, body: unknown): Promise<unknown> | undefined;
} {
  const endpoints = new Map<number, string>();
  const tokens = new Map<string, number>();

  const forward = async (pid: number, request: WorkflowRequest): Promise<Answer | undefined> => {
    const url = endpoints.get(pid);
    if (!url) return undefined;
    try {
      return (await post(url, request)) as Answer;
    } catch {
      // The process is gone (or no longer serves): so are its executions.
      endpoints.delete(pid);
      return undefined;
    }
  };

  const send = async (request: WorkflowRequest): Promise<Answer> => {
    if (request.op === 'stopExecution') {
      for (const pid of [...endpoints.keys()]) {
        const answer = await forward(pid, request);
        if (answer && !('error' in answer && answer.error.name === 'ExecutionDoesNotExist')) return answer;
      }
      return failure(
        new StopExecutionError(
          'ExecutionDoesNotExist',
          `no local process runs execution ${request.executionArn} (it may have ended with its process)`,
        ),
      );
    }
    const malformed = malformedTaskToken(request.token);
    if (malformed) return failure(malformed);
    const pid = tokens.get(request.token);
    if (pid === undefined) {
      return failure(new TaskTokenError('TaskDoesNotExist', 'no local task was given this token'));
    }
    return (
      (await forward(pid, request)) ??
      failure(
        new TaskTokenError(
          'TaskTimedOut',
          `the process that ran this token's execution (pid ${pid}) has ended, and the execution with it`,
        ),
      )
    );
  };

  return {
    handle(path, body) {
      const b = body as { pid?: unknown; url?: unknown; token?: unknown };
      if (path === '/workflows/endpoint' && typeof b.pid === 'number' && typeof b.url === 'string') {
        endpoints.set(b.pid, b.url);
        return Promise.resolve({ ok: true });
      }
      if (path === '/workflows/token' && typeof b.pid === 'number' && typeof b.token === 'string') {
        tokens.set(b.token, b.pid);
        return Promise.resolve({ ok: true });
      }
      if (path === '/workflows/send') return send(body as WorkflowRequest);
      return undefined;
    },
  };
}
