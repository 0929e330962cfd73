import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet } from '../../lambdas/adapters/http.ts';

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"ok"}');
    } else if (req.url === '/endless') {
      // Streams forever: the client must stop reading at its cap instead of buffering it all.
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = 'x'.repeat(16 * 1024);
      const write = () => {
        while (res.write(chunk)) {
          /* until the socket pushes back */
        }
        res.once('drain', write);
      };
      res.on('error', () => undefined);
      write();
    } else if (req.url === '/slow') {
      setTimeout(() => res.end('late'), 2_000).unref();
    } else {
      res.writeHead(503);
      res.end('down');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('httpGet', () => {
  it('returns status and body', async () => {
    const r = await httpGet(`${base}/health`, 2000);
    expect(r.status).toBe(200);
    expect(r.body).toBe('{"status":"ok"}');
    expect(r.elapsedMs).toBeGreaterThanOrEqual(0);
  });

  it('reads at most 64 KiB of a body that never ends, and returns', async () => {
    const r = await httpGet(`${base}/endless`, 5000);
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(64 * 1024);
  });

  it('returns error statuses as results', async () => {
    expect(await httpGet(`${base}/other`, 2000)).toMatchObject({ status: 503, body: 'down' });
  });

  it('turns a timeout into status 0 naming the timeout', async () => {
    expect(await httpGet(`${base}/slow`, 100)).toMatchObject({ status: 0, body: 'timed out after 100 ms' });
  });

  it('turns a refused connection into status 0 naming it', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const r = await httpGet(`http://127.0.0.1:${port}/health`, 2000);
    expect(r.status).toBe(0);
    expect(r.body).toMatch(/^connection refused \(.*ECONNREFUSED/);
  });

  it('names a URL that fetch refuses to call', async () => {
    expect(await httpGet('http://127.0.0.1:9/health', 2000)).toMatchObject({
      status: 0,
      body: 'request failed: bad port',
    });
  });
});
