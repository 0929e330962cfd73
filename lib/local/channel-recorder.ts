/**
 * Stand-ins for PagerDuty's Events API and a Slack incoming webhook on loopback, for the demo: a
 * real HTTP server that answers 202 and keeps what it got, so the demo shows (and checks) what
 * the escalation channels would have received.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the recorder got. */
export interface RecordedRequest {
  readonly path: string;
  readonly json: unknown;
}

/** A running recorder. */
export interface ChannelRecorder {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Requests so far to `path` (all when omitted). */
  received(path?: string): RecordedRequest[];
  close(): Promise<void>;
}

/** Starts a recorder on a free loopback port. */
export async function startChannelRecorder(): Promise<ChannelRecorder> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let json: unknown;
      try {
        json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        json = undefined;
      }
      requests.push({ path: req.url ?? '/', json });
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end('{"status":"success","message":"Event processed"}');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received: (path) => requests.filter((r) => path === undefined || r.path === path),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
