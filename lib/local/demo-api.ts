/**
 * The demo BuyWhere API for local mode: `/health`, `/ready` and `/metrics` like the real
 * service, answering according to the image the cluster serves, so a `bad` release really shows
 * a failing health check and a high 5xx rate. Traffic is synthetic and driven by the clock it is
 * given (the simulated one: counters grow with simulated time; a real-time one where a real
 * Prometheus scrapes it). It is random like real traffic — a seeded PRNG draws each interval's
 * 5xx (binomial around the release's rate) and latencies (lognormal with the release's p99) — so
 * a judge sees noise, and it is labelled with the serving release's `version`
 * (lib/local/traffic.ts).
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { splitImageReference } from '../../lambdas/core/image.ts';
import type { Clock } from '../../lambdas/core/ports.ts';
import { exhaustsPool, imageBehaviour, trafficOf } from './image-behaviour.ts';
import { meanLatencySeconds, TrafficCounters } from './traffic.ts';

/** Synthetic requests per second of the clock, by default. */
export const DEFAULT_REQUESTS_PER_SECOND = 20;

/** Options of startDemoApi. */
export interface DemoApiOptions {
  /** The image the cluster serves now (undefined: no Ready pods, the Service has no endpoints). */
  readonly resolveImage: () => string | undefined;
  readonly clock: Clock;
  /** Synthetic requests per second. @default DEFAULT_REQUESTS_PER_SECOND */
  readonly requestsPerSecond?: number;
  /** Seed of the traffic's PRNG (same seed, same clock steps: same counters). @default 2 */
  readonly seed?: number;
}

/** A running demo API. */
export interface DemoApi {
  /** Base URL, `http://127.0.0.1:<port>`. */
  readonly url: string;
  close(): Promise<void>;
}

function json(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** Connections in the API's database pool (SQLAlchemy pool_size) and PgBouncer's default_pool_size. */
const POOL_SIZE = 20;

/**
 * The connection pools as `/health` reports them: the API's own pool (`pool`: size, active, idle,
 * waiting) and PgBouncer's SHOW POOLS figures (`pgbouncer_pool`). A healthy release holds about as
 * many connections as requests in flight (Little's law: rate × mean latency); a `pool` image has
 * every connection checked out and a queue behind it, while `/health` still answers 200 / ok.
 */
function poolFigures(image: string, requestsPerSecond: number): Record<string, Record<string, number>> {
  if (exhaustsPool(image)) {
    return {
      pool: { size: POOL_SIZE, active: POOL_SIZE, idle: 0, waiting: 37 },
      pgbouncer_pool: {
        cl_active: POOL_SIZE,
        cl_waiting: 48,
        sv_active: POOL_SIZE,
        sv_idle: 0,
        maxwait_seconds: 12,
      },
    };
  }
  // In flight on average: the image's simulated traffic (lib/local/traffic.ts) times its mean latency.
  const inFlight = Math.round(requestsPerSecond * meanLatencySeconds(trafficOf(image)));
  const active = Math.min(POOL_SIZE, Math.max(1, inFlight));
  return {
    pool: { size: POOL_SIZE, active, idle: POOL_SIZE - active, waiting: 0 },
    pgbouncer_pool: {
      cl_active: active,
      cl_waiting: 0,
      sv_active: active,
      sv_idle: POOL_SIZE - active,
      maxwait_seconds: 0,
    },
  };
}

/** Starts the demo API on 127.0.0.1 (a free port). */
export async function startDemoApi(options: DemoApiOptions): Promise<DemoApi> {
  const { clock, resolveImage } = options;
  // Per-image start time (uptime resets when a new image starts serving).
  let servedImage: string | undefined;
  let servingSince = clock.now().getTime();
  // Synthetic traffic, advanced lazily by the clock.
  let trafficAt = clock.now().getTime();
  const traffic = new TrafficCounters(options.seed ?? 2);
  const rate = options.requestsPerSecond ?? DEFAULT_REQUESTS_PER_SECOND;

  const observe = (): { image: string | undefined; healthy: boolean } => {
    const now = clock.now().getTime();
    const image = resolveImage();
    // Traffic since the last look is attributed to what was served then.
    if (servedImage !== undefined && now > trafficAt) {
      traffic.serve(
        splitImageReference(servedImage).tag || 'unknown',
        trafficOf(servedImage),
        ((now - trafficAt) / 1000) * rate,
      );
    }
    trafficAt = Math.max(trafficAt, now);
    if (image !== servedImage) {
      servedImage = image;
      servingSince = now;
    }
    return { image, healthy: image !== undefined && imageBehaviour(image).healthy };
  };

  const metrics = (image: string | undefined): string => {
    const lines: string[] = [
      ...traffic.exposition(),
      '# HELP http_error_rate Share of requests answered with 5xx right now, in percent.',
      '# TYPE http_error_rate gauge',
      `http_error_rate ${image === undefined ? 100 : Number((trafficOf(image).errorRate * 100).toFixed(2))}`,
      '# HELP buywhere_build_info The image this API runs.',
      '# TYPE buywhere_build_info gauge',
      `buywhere_build_info{image="${image ?? ''}",version="${image ? (splitImageReference(image).tag ?? '') : ''}"} 1`,
      '',
    ];
    return lines.join('\n');
  };

  observe();

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://demo').pathname;
    const { image, healthy } = observe();
    if (image === undefined) {
      // No Ready pod: what a load balancer in front of an empty Service answers.
      json(res, 503, { error: 'no healthy upstream' });
      return;
    }
    const uptime = Math.floor((clock.now().getTime() - servingSince) / 1000);
    switch (path) {
      case '/health':
        json(res, healthy ? 200 : 503, {
          status: healthy ? 'ok' : 'degraded',
          database: healthy ? 'connected' : 'error',
          redis: 'connected',
          pgbouncer: 'connected',
          ...poolFigures(image, rate),
          version: splitImageReference(image).tag || 'unknown',
          image,
          uptime_seconds: uptime,
        });
        return;
      case '/ready':
        json(res, healthy ? 200 : 503, { ready: healthy });
        return;
      case '/metrics': {
        const text = metrics(image);
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(text);
        return;
      }
      default:
        json(res, 404, { error: `no route ${path}` });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
