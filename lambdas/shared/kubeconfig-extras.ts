/**
 * Bundling stand-in for the packages @kubernetes/client-node imports only for kubeconfig features
 * the Lambda functions never use (esbuild aliases in lib/constructs/step-function.ts): YAML
 * kubeconfig files (js-yaml), SOCKS proxies (socks-proxy-agent), the Azure/GCP auth providers'
 * JSONPath (jsonpath-plus) and OIDC token refresh (openid-client). The functions reach EKS with a
 * presigned-STS bearer token through `loadFromOptions` (lambdas/adapters/eks.ts), so none of these
 * run there; together they were ~165 KB of every Kubernetes step's bundle. The CLI and the local
 * runner import the real packages.
 */

function unsupported(what: string): never {
  throw new Error(
    `${what} is not available in the guardian's Lambda functions: they reach EKS with a bearer token (lambdas/adapters/eks.ts)`,
  );
}

/** `js-yaml`'s default export. */
export default {
  load: (): never => unsupported('a YAML kubeconfig'),
  dump: (): never => unsupported('YAML output'),
};

/** `socks-proxy-agent`. */
export class SocksProxyAgent {
  constructor() {
    unsupported('a SOCKS proxy in the kubeconfig');
  }
}

/** `jsonpath-plus` (the Azure and GCP auth providers). */
export function JSONPath(): never {
  return unsupported('the Azure/GCP kubeconfig auth providers');
}

/** `openid-client` (the OIDC auth provider). */
export function discovery(): never {
  return unsupported('the OIDC kubeconfig auth provider');
}

/** `openid-client` (the OIDC auth provider). */
export function refreshTokenGrant(): never {
  return unsupported('the OIDC kubeconfig auth provider');
}
