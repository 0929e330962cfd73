/**
 * moto server for the integration tier: installed once by tools/moto/ensure.sh, started on a free
 * loopback port per test file, and the AWS environment variables through which the SDK clients
 * our factories build (`new XClient({})`) find it.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';

/** A running moto server. */
export interface Moto {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  stop(): void;
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Installs moto if needed, starts it on a free port and waits (up to 30 s) until it answers. */
export async function startMoto(): Promise<Moto> {
  const server =
    execFileSync('bash', ['tools/moto/ensure.sh'], { encoding: 'utf8' }).trim().split('\n').pop() ?? '';
  const port = await freePort();
  const moto: ChildProcess = spawn(server, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const endpoint = `http://127.0.0.1:${port}`;
  let ready = false;
  for (let i = 0; i < 150 && !ready; i++) {
    ready = await fetch(`${endpoint}/moto-api/`).then(
      (r) => r.ok,
      () => false,
    );
    if (!ready) await new Promise((r) => setTimeout(r, 200));
  }
  if (!ready) {
    moto.kill();
    throw new Error(`moto server did not come up on ${endpoint}`);
  }
  return { endpoint, stop: () => moto.kill() };
}

/**
 * Points the AWS SDK at `endpoint` with test credentials in `region`; returns the function that
 * puts the variables back as they were.
 */
export function useMotoEnvironment(endpoint: string, region: string): () => void {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries({
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_SESSION_TOKEN: 'testing',
    AWS_REGION: region,
  })) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}
