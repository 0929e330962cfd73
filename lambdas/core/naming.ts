/**
 * State-machine and execution names (docs/workflows.md) and the dry-run plan. Pure: the caller
 * supplies the random suffix so names are reproducible in tests.
 */
import { InvalidInputError } from './errors.ts';
import { splitImageReference } from './image.ts';
import { quote } from './text.ts';
import { describePoint, type RollbackPoint } from './workload.ts';

/** Step Functions' limit on execution names. */
export const MAX_EXECUTION_NAME = 80;
/** What a deploy's automatic rollback appends to the deploy's name (its child execution). */
export const ROLLBACK_CHILD_SUFFIX = '-rollback';
/** Deploy names leave room for the child rollback's `-rollback` suffix. */
export const MAX_DEPLOY_EXECUTION_NAME = MAX_EXECUTION_NAME - ROLLBACK_CHILD_SUFFIX.length;
const SUFFIX_RE = /^[0-9a-f]{8}$/;
/** A deploy name's label when the version or tag has no usable characters. */
const PLACEHOLDER_LABEL = 'release';
const ROLLBACK_INFIX = '-rollback-';

/** The workflows of an environment (escalation: one execution per incident, issue 8). */
export type WorkflowKind = 'deploy' | 'rollback' | 'escalation';

/**
 * Physical name of an environment's Deploy or Rollback state machine, `guardian-<environment>-<kind>`:
 * the stacks create it under this name and the local runner looks it up by it.
 */
export function stateMachineName(environment: string, kind: WorkflowKind): string {
  return `guardian-${environment}-${kind}`;
}

/**
 * Refuses a Deploy execution name its automatic rollback could not be started with: the child is
 * named `<name>-rollback`, so the name may have at most 71 of Step Functions' 80 characters.
 * Preflight calls it first, so a CI-supplied name (`start-execution --name`) is refused before
 * the lock is taken, instead of failing the rollback after a bad release went out. Characters
 * are not checked: Step Functions refused the name already if it rejects them, and the child
 * adds only `-rollback`.
 */
export function checkDeployExecutionName(name: string): void {
  if (name.length > MAX_DEPLOY_EXECUTION_NAME) {
    throw new InvalidInputError(
      `execution name ${quote(name)} has ${name.length} characters; a Deploy execution name may have at most ${MAX_DEPLOY_EXECUTION_NAME}, because Step Functions limits execution names to ${MAX_EXECUTION_NAME} characters and the automatic rollback is named '<deploy name>${ROLLBACK_CHILD_SUFFIX}'. Start the deployment again with a shorter name, e.g. <environment>-<version>-<id>.`,
    );
  }
}

function sanitize(part: string): string {
  return part
    .replace(/\./g, '-')
    .replace(/[^A-Za-z0-9_-]/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '');
}

/** `part` cut to at most `max` characters, without a dangling dash. */
function cut(part: string, max: number): string {
  return part.slice(0, Math.max(0, max)).replace(/-+$/, '');
}

function checkSuffix(suffix: string): void {
  if (!SUFFIX_RE.test(suffix)) {
    throw new InvalidInputError(`execution name suffix ${quote(suffix)} must be 8 lowercase hex digits`);
  }
}

/**
 * `<environment>-<version or tag, dots->dashes>-<8 hex>`, e.g. `production-v1-2-3-4f2a9c1e`.
 * Characters Step Functions rejects become dashes; a long label (and an environment name too
 * long to leave the label any room) is cut so that the name, plus the `-rollback` of its
 * automatic rollback's child execution, fits Step Functions' 80. The random suffix is never cut:
 * it is what keeps two deployments of the same release apart.
 */
export function deployExecutionName(environment: string, label: string, suffix: string): string {
  checkSuffix(suffix);
  const env = cut(
    sanitize(environment),
    MAX_DEPLOY_EXECUTION_NAME - suffix.length - PLACEHOLDER_LABEL.length - 2,
  );
  if (env === '')
    throw new InvalidInputError(`environment ${quote(environment)} gives an empty execution name`);
  const room = MAX_DEPLOY_EXECUTION_NAME - env.length - suffix.length - 2;
  return `${env}-${cut(sanitize(label), room) || PLACEHOLDER_LABEL}-${suffix}`;
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

/** `<environment>-rollback-<8 hex>`; a long environment name is cut so the suffix survives. */
export function rollbackExecutionName(environment: string, suffix: string): string {
  checkSuffix(suffix);
  const env = cut(sanitize(environment), MAX_EXECUTION_NAME - ROLLBACK_INFIX.length - suffix.length);
  return `${env}${ROLLBACK_INFIX}${suffix}`;
}

/** What the dry-run plan describes. */
export interface PlanInput {
  readonly environment: string;
  /** The workload as an operator names it. */
  readonly workload: string;
  readonly image: string;
  readonly version?: string;
  /** What the workload runs now, and what a rollback restores. */
  readonly rollbackPoint: RollbackPoint;
  readonly deadlineSeconds: number;
  readonly rolloutDeadlineAt: string;
  readonly apiUrl: string;
  readonly healthPaths: readonly string[];
  readonly breakerSummary: string;
  readonly lockSummary: string;
}

/** The plan lines of a deployment: the checks that passed and what the workflow will do. */
export function planLines(p: PlanInput): string[] {
  const now = describePoint(p.rollbackPoint);
  return [
    `image ${p.image}${p.version ? ` (version ${p.version})` : ''} is valid for ${p.environment}`,
    'no change freeze in effect',
    p.breakerSummary,
    p.lockSummary,
    p.rollbackPoint.image === p.image
      ? `${p.workload} already runs ${p.image} (revision ${p.rollbackPoint.revision}); the rollout will change nothing`
      : `set ${p.workload} from ${now} to ${p.image}`,
    `wait up to ${p.deadlineSeconds}s for the rollout (until ${p.rolloutDeadlineAt})`,
    `check ${p.healthPaths.map((h) => `GET ${h}`).join(', ')} on ${p.apiUrl}`,
    `on failure roll back to ${now}`,
  ];
}
