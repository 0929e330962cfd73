/**
 * A real HTTP receiver on 127.0.0.1 that records every request it gets and answers from a script:
 * it stands in for PagerDuty's Events API and Slack's incoming webhooks in tests.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as received. */
export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
  /** The body parsed as JSON (undefined when it is not JSON). */
  readonly json: unknown;
}

/** How the receiver answers one request. */
export interface ScriptedAnswer {
  readonly status: number;
  readonly body?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** A running receiver. */
export interface Receiver {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Requests so far, per path. */
  received(path?: string): ReceivedRequest[];
  /** Answers the next requests to `path` in order; after the script, `fallback` (default 200 ok). */
  script(path: string, answers: readonly ScriptedAnswer[], fallback?: ScriptedAnswer): void;
  /** Forgets requests and scripts. */
  reset(): void;
  close(): Promise<void>;
}

/** Starts a receiver on a free loopback port. */
export async function startReceiver(): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const scripts = new Map<string, { answers: ScriptedAnswer[]; fallback: ScriptedAnswer }>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const path = req.url ?? '/';
      requests.push({ method: req.method ?? 'GET', path, headers: req.headers, body, json });
      const script = scripts.get(path);
      const answer = script?.answers.shift() ?? script?.fallback ?? { status: 200, body: 'ok' };
      res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
      res.end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    received: (path) => (path === undefined ? [...requests] : requests.filter((r) => r.path === path)),
    script(path, answers, fallback = { status: 200, body: 'ok' }) {
      scripts.set(path, { answers: [...answers], fallback });
    },
    reset() {
      requests.length = 0;
      scripts.clear();
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
