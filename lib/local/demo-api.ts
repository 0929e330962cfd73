/**
 * The demo BuyWhere API for local mode: `/health`, `/ready` and `/metrics` like the real
 * service, answering according to the image the cluster serves, so a `bad` release really shows
 * a failing health check and a high 5xx rate. Traffic is synthetic and driven by the simulated
 * clock: counters grow with simulated time, not with wall time.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { splitImageReference } from '../../lambdas/core/image.ts';
import type { Clock } from '../../lambdas/core/ports.ts';
import { exhaustsPool, imageBehaviour } from './image-behaviour.ts';

/** Synthetic requests per simulated second. */
const REQUESTS_PER_SECOND = 20;
/** Upper bounds (s) of the latency histogram. */
const BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const;

/** Traffic shape of a healthy and of a bad release. */
const PROFILES = {
  healthy: {
    statuses: { '200': 0.995, '404': 0.005 } as Record<string, number>,
    // Share of requests at or below each bucket bound (cumulative), and mean latency.
    cumulative: [0.55, 0.85, 0.97, 0.995, 1, 1, 1],
    meanSeconds: 0.06,
  },
  bad: {
    statuses: { '200': 0.6, '500': 0.3, '503': 0.1 } as Record<string, number>,
    cumulative: [0.1, 0.2, 0.35, 0.5, 0.7, 0.97, 1],
    meanSeconds: 1.1,
  },
};

/** Options of startDemoApi. */
export interface DemoApiOptions {
  /** The image the cluster serves now (undefined: no Ready pods, the Service has no endpoints). */
  readonly resolveImage: () => string | undefined;
  readonly clock: Clock;
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
function poolFigures(image: string, healthy: boolean): Record<string, Record<string, number>> {
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
  const profile = healthy ? PROFILES.healthy : PROFILES.bad;
  const active = Math.min(POOL_SIZE, Math.ceil(REQUESTS_PER_SECOND * profile.meanSeconds));
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
  // Synthetic traffic counters, advanced lazily by simulated time.
  let trafficAt = clock.now().getTime();
  let carry = 0;
  const byStatus: Record<string, number> = { '200': 0, '404': 0, '500': 0, '503': 0 };
  const bucketCounts: number[] = BUCKETS.map(() => 0);
  let latencySum = 0;
  let latencyCount = 0;

  const observe = (): { image: string | undefined; healthy: boolean } => {
    const now = clock.now().getTime();
    const image = resolveImage();
    // Traffic since the last look is attributed to what was served then.
    const wasHealthy = servedImage === undefined || imageBehaviour(servedImage).healthy;
    if (servedImage !== undefined && now > trafficAt) {
      const exact = ((now - trafficAt) / 1000) * REQUESTS_PER_SECOND + carry;
      const n = Math.floor(exact);
      carry = exact - n;
      const profile = wasHealthy ? PROFILES.healthy : PROFILES.bad;
      let assigned = 0;
      const entries = Object.entries(profile.statuses);
      entries.forEach(([status, share], i) => {
        const count = i === entries.length - 1 ? n - assigned : Math.round(n * share);
        byStatus[status] = (byStatus[status] ?? 0) + count;
        assigned += count;
      });
      profile.cumulative.forEach((share, i) => {
        bucketCounts[i] = (bucketCounts[i] ?? 0) + Math.round(n * share);
      });
      latencySum += n * profile.meanSeconds;
      latencyCount += n;
    }
    trafficAt = Math.max(trafficAt, now);
    if (image !== servedImage) {
      servedImage = image;
      servingSince = now;
    }
    return { image, healthy: image !== undefined && imageBehaviour(image).healthy };
  };

  const metrics = (image: string | undefined, healthy: boolean): string => {
    const lines: string[] = [
      '# HELP http_requests_total Requests served, by HTTP status.',
      '# TYPE http_requests_total counter',
      ...Object.entries(byStatus).map(([s, v]) => `http_requests_total{status="${s}"} ${v}`),
      '# HELP http_error_rate Share of requests answered with 5xx right now, in percent.',
      '# TYPE http_error_rate gauge',
      `http_error_rate ${image === undefined ? 100 : healthy ? 0 : Math.round((PROFILES.bad.statuses['500'] ?? 0) * 100 + (PROFILES.bad.statuses['503'] ?? 0) * 100)}`,
      '# HELP http_request_duration_seconds Request latency.',
      '# TYPE http_request_duration_seconds histogram',
      ...BUCKETS.map((le, i) => `http_request_duration_seconds_bucket{le="${le}"} ${bucketCounts[i] ?? 0}`),
      `http_request_duration_seconds_bucket{le="+Inf"} ${latencyCount}`,
      `http_request_duration_seconds_sum ${latencySum.toFixed(3)}`,
      `http_request_duration_seconds_count ${latencyCount}`,
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
          ...poolFigures(image, healthy),
          version: splitImageReference(image).tag || 'unknown',
          image,
          uptime_seconds: uptime,
        });
        return;
      case '/ready':
        json(res, healthy ? 200 : 503, { ready: healthy });
        return;
      case '/metrics': {
        const text = metrics(image, healthy);
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
