/**
 * A plain-HTTP proxy in front of the real API server that adds a fixed delay to every read of a
 * Deployment. The local runner compresses Wait states (10 s of simulated time take ~1 ms), which
 * is right against the simulator, whose pods follow the simulated clock, but a real controller
 * needs real seconds: without pacing, the guardian's 300 s rollout deadline would pass in well
 * under a second of wall time. The delay makes each poll of the rollout cost real time, so the
 * real control plane can keep up; nothing in the request or the answer is changed.
 */

import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';

/** A running paced proxy. */
export interface PacedProxy {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Writes a kubeconfig that reaches the cluster through this proxy. */
  writeKubeconfig(file: string): void;
  close(): Promise<void>;
}

const DEPLOYMENT_READ = /^\/apis\/apps\/v1\/namespaces\/[^/]+\/deployments\/[^/?]+(\?.*)?$/;

/** Starts the proxy on 127.0.0.1; reads of a Deployment are answered `delayMs` later. */
export async function startPacedProxy(kc: KubeConfig, delayMs: number): Promise<PacedProxy> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('paced proxy: the kubeconfig has no current cluster');
  const upstream = new URL(cluster.server);
  const tls: RequestOptions = {};
  await kc.applyToHTTPSOptions(tls);

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const forward = () => {
      const up = httpsRequest(
        {
          ...tls,
          protocol: upstream.protocol,
          hostname: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: upstream.host },
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      up.on('error', (err) => {
        res.writeHead(502, { 'Content-Type': 'text/plain' });
        res.end(`paced proxy: ${err.message}`);
      });
      req.pipe(up);
    };
    if (req.method === 'GET' && DEPLOYMENT_READ.test(req.url ?? '')) setTimeout(forward, delayMs);
    else forward();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    writeKubeconfig(file) {
      writeFileSync(
        file,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'paced', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
          users: [{ name: 'paced', user: {} }],
          contexts: [{ name: 'paced', context: { cluster: 'paced', user: 'paced' } }],
          'current-context': 'paced',
        }),
      );
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
