/**
 * Execution names (docs/workflows.md) and the dry-run plan. Pure: the caller supplies the
 * random suffix so names are reproducible in tests.
 */
import { InvalidInputError } from './errors.ts';
import { splitImageReference } from './image.ts';

/** Step Functions' limit on execution names. */
export const MAX_EXECUTION_NAME = 80;
/** What a deploy's automatic rollback appends to the deploy's name (its child execution). */
export const ROLLBACK_CHILD_SUFFIX = '-rollback';
/** Deploy names leave room for the child rollback's `-rollback` suffix. */
export const MAX_DEPLOY_EXECUTION_NAME = MAX_EXECUTION_NAME - ROLLBACK_CHILD_SUFFIX.length;
const SUFFIX_RE = /^[0-9a-f]{8}$/;

function sanitize(part: string): string {
  return part
    .replace(/\./g, '-')
    .replace(/[^A-Za-z0-9_-]/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '');
}

function checkSuffix(suffix: string): void {
  if (!SUFFIX_RE.test(suffix)) {
    throw new InvalidInputError(`execution name suffix '${suffix}' must be 8 lowercase hex digits`);
  }
}

/**
 * `<environment>-<version or tag, dots->dashes>-<8 hex>`, e.g. `production-v1-2-3-4f2a9c1e`.
 * Characters Step Functions rejects become dashes; a long label is cut so that the name, plus
 * the `-rollback` of its automatic rollback's child execution, fits Step Functions' 80.
 */
export function deployExecutionName(environment: string, label: string, suffix: string): string {
  checkSuffix(suffix);
  const env = sanitize(environment);
  if (env === '') throw new InvalidInputError(`environment '${environment}' gives an empty execution name`);
  const room = MAX_DEPLOY_EXECUTION_NAME - env.length - suffix.length - 2;
  const middle = sanitize(label).slice(0, Math.max(0, room)).replace(/-+$/, '') || 'release';
  return `${env}-${middle}-${suffix}`.slice(0, MAX_DEPLOY_EXECUTION_NAME);
}

/**
 * The label a deploy's execution name carries: the version, else the image's tag (or digest),
 * taken from the raw request so even a request preflight will refuse gets a readable name.
 */
export function releaseLabel(image: unknown, version?: unknown): string {
  if (typeof version === 'string' && version !== '') return version;
  const { tag, digest } = splitImageReference(String(image ?? ''));
  // A digest without its algorithm: `sha256:4f2a…` labels as `4f2a…`.
  return tag || digest?.slice(digest.indexOf(':') + 1) || 'release';
}

/** `<environment>-rollback-<8 hex>`. */
export function rollbackExecutionName(environment: string, suffix: string): string {
  checkSuffix(suffix);
  return `${sanitize(environment)}-rollback-${suffix}`.slice(0, MAX_EXECUTION_NAME);
}

/** What the dry-run plan describes. */
export interface PlanInput {
  readonly environment: string;
  readonly namespace: string;
  readonly workload: string;
  readonly container: string;
  readonly image: string;
  readonly version?: string;
  readonly previousImage: string;
  readonly previousRevision: number;
  readonly deadlineSeconds: number;
  readonly rolloutDeadlineAt: string;
  readonly apiUrl: string;
  readonly healthPaths: readonly string[];
  readonly breakerSummary: string;
  readonly lockSummary: string;
}

/** The plan lines of a deployment: the checks that passed and what the workflow will do. */
export function planLines(p: PlanInput): string[] {
  const target = `${p.namespace}/${p.workload}`;
  return [
    `image ${p.image}${p.version ? ` (version ${p.version})` : ''} is valid for ${p.environment}`,
    'no change freeze in effect',
    p.breakerSummary,
    p.lockSummary,
    p.previousImage === p.image
      ? `${target} container ${p.container} already runs ${p.image} (revision ${p.previousRevision}); the rollout will change nothing`
      : `set ${target} container ${p.container} from ${p.previousImage} (revision ${p.previousRevision}) to ${p.image}`,
    `wait up to ${p.deadlineSeconds}s for the rollout (until ${p.rolloutDeadlineAt})`,
    `check ${p.healthPaths.map((h) => `GET ${h}`).join(', ')} on ${p.apiUrl}`,
    `on failure roll back to revision ${p.previousRevision} (${p.previousImage})`,
  ];
}
