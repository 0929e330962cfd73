/**
 * A real Prometheus server (Debian's `prometheus` package, installed once by
 * tools/prometheus/ensure.sh) on a free loopback port, with a generated config that scrapes the
 * given targets every second and keeps its TSDB in a temporary directory removed on stop. Nothing
 * of the package's own service is used.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A running Prometheus. */
export interface RunningPrometheus {
  /** Base URL, `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** The result of an instant query (`data.result`), for waiting on scrapes. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  /** Stops the server (SIGTERM, then SIGKILL after 10 s) and removes its storage. */
  stop(): Promise<void>;
}

/** Options of {@link startPrometheus}. */
export interface PrometheusOptions {
  /** `host:port` of each target scraped at `/metrics`. */
  readonly targets: readonly string[];
  /** @default 1 */
  readonly scrapeIntervalSeconds?: number;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** The prometheus executable, installed by tools/prometheus/ensure.sh when missing. */
export function prometheusBinary(): string {
  const out = execFileSync('bash', ['tools/prometheus/ensure.sh'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const bin = out.trim().split('\n').pop();
  if (!bin) throw new Error('tools/prometheus/ensure.sh printed no path');
  return bin;
}

/** Starts Prometheus and waits until it answers `/-/ready`. */
export async function startPrometheus(options: PrometheusOptions): Promise<RunningPrometheus> {
  const bin = prometheusBinary();
  const dir = mkdtempSync(path.join(tmpdir(), 'guardian-prometheus-'));
  const interval = `${options.scrapeIntervalSeconds ?? 1}s`;
  const targets = options.targets.map((t) => `'${t}'`).join(', ');
  writeFileSync(
    path.join(dir, 'prometheus.yml'),
    [
      'global:',
      `  scrape_interval: ${interval}`,
      `  evaluation_interval: ${interval}`,
      'scrape_configs:',
      '  - job_name: buywhere-api',
      `    scrape_interval: ${interval}`,
      `    scrape_timeout: ${interval}`,
      '    static_configs:',
      `      - targets: [${targets}]`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    bin,
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus did not become ready on ${url}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    stop,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
      const body = (await res.json()) as { data?: { result?: [] } };
      return body.data?.result ?? [];
    },
  };
}
