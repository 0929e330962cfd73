/**
 * Bundling stand-in for the `whatwg-url` package (esbuild alias in lib/constructs/step-function.ts).
 * node-fetch 2, which @kubernetes/client-node uses, only falls back to whatwg-url's URL when
 * `require('url').URL` is missing, which never happens on Node 22; the real package adds ~290 KB
 * of minified IDNA tables (tr46) to every Kubernetes step's bundle.
 */

/** The platform URL class, which node-fetch uses anyway. */
export const URL = globalThis.URL;

export default { URL };
