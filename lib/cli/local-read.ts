/**
 * The read path of local commands: `status`, `history`, `lock`, `circuit-breaker` and `freeze`
 * answered by the state folder's running state service, which already holds the tables and the
 * simulator, so the command loads neither the AWS SDK, the Kubernetes client nor the templates.
 * Whenever the service cannot answer as the full runner would (no service yet, the simulator not
 * started, an execution whose process died and must be reaped first, a write), the command falls
 * back to the full local runner, which gives the same answer more slowly.
 */
import { request } from 'node:http';
import type { Store } from '../../lambdas/core/ports.ts';
import type { EnvironmentConfig, GuardianConfig } from '../config/schema.ts';
import { SharedClock } from '../local/clock.ts';
import { processAlive, readStateJson } from '../local/state-files.ts';
import {
  READ_METHODS,
  type ReadRequest,
  runningExecutions,
  type ServiceInfo,
  statePaths,
} from '../local/state-service.ts';
import type { GuardianBackend } from './aws.ts';

/** The read path cannot answer this; the full runner must. Thrown before anything changed. */
export class ReadPathUnavailable extends Error {
  override readonly name = 'ReadPathUnavailable';
}

/** POST `body` to the service; any failure is ReadPathUnavailable (the full runner retries it). */
function post(info: ServiceInfo, route: string, body: unknown): Promise<unknown> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      `${info.controlUrl}${route}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        timeout: 5000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) {
            reject(new ReadPathUnavailable(`the state service answered ${res.statusCode}: ${text}`));
            return;
          }
          try {
            resolve(text ? JSON.parse(text) : undefined);
          } catch {
            reject(new ReadPathUnavailable('the state service answered something that is not JSON'));
          }
        });
        res.on('error', (err) => reject(new ReadPathUnavailable(err.message)));
      },
    );
    req.on('timeout', () => req.destroy(new Error('the state service did not answer within 5 s')));
    req.on('error', (err) => reject(new ReadPathUnavailable(err.message)));
    req.end(payload);
  });
}

/**
 * A backend answered by the running state service of `stateDir`, or `undefined` when the full
 * runner must answer (see the module comment).
 */
export async function localReadBackend(
  stateDir: string,
  config: GuardianConfig,
  env: EnvironmentConfig,
): Promise<GuardianBackend | undefined> {
  let info: ServiceInfo | undefined;
  try {
    info = readStateJson(
      statePaths(stateDir).service,
      (v): v is ServiceInfo => typeof (v as ServiceInfo | null)?.pid === 'number',
      'the local state service',
    );
    if (!info || !processAlive(info.pid)) return undefined;
    // An execution whose process died is reaped (and reported) by the full runner.
    if (runningExecutions(stateDir).some((r) => !processAlive(r.execution.pid, r.execution.pidStartTime))) {
      return undefined;
    }
    const ping = (await post(info, '/ping', {})) as { pid?: number; simulator?: boolean } | null;
    if (ping?.pid !== info.pid || ping.simulator !== true) return undefined;
  } catch {
    return undefined; // damaged or vanishing state: the full runner says what is wrong
  }
  const service = info;
  const clock = new SharedClock(statePaths(stateDir).clock);
  const store = new Proxy({} as Store, {
    get(_target, method) {
      if (typeof method !== 'string' || !(READ_METHODS as readonly string[]).includes(method)) {
        return () => Promise.reject(new ReadPathUnavailable(`${String(method)} is not a read`));
      }
      // JSON has no undefined: "no lock" comes back as null and is given back as the store gives it.
      return async (...args: unknown[]) =>
        (await post(service, '/read', {
          config,
          environment: env.name,
          method: method as ReadRequest['method'],
          args,
        } satisfies ReadRequest)) ?? undefined;
    },
  });
  return {
    store,
    now: () => clock.now(),
    workload: async () => (await post(service, '/workload', { environment: env })) as never,
  };
}
