/**
 * Step id -> handler module, for the local runner (which binds Task states to the real handlers
 * by their `guardian:step` metadata). Static import paths keep the modules visible to bundlers.
 */
import type { StepId } from './adapters/tables.ts';
import type { Step } from './shared/step.ts';

type StepModule = () => Promise<{
  step: Step<unknown, unknown>;
  /** The Lambda entry point; `ports` says which AWS ports it is wired with. */
  handler: { ports: { store: boolean; cluster: boolean } };
}>;

/** Loads each step's handler module on demand. */
export const STEPS: Record<StepId, StepModule> = {
  preflight: () => import('./preflight/handler.ts'),
  'set-image': () => import('./set-image/handler.ts'),
  'rollout-status': () => import('./rollout-status/handler.ts'),
  'health-check': () => import('./health-check/handler.ts'),
  'record-deployment': () => import('./record-deployment/handler.ts'),
  'rollback-prepare': () => import('./rollback-prepare/handler.ts'),
  'rollback-apply': () => import('./rollback-apply/handler.ts'),
  'rollback-finish': () => import('./rollback-finish/handler.ts'),
  'execution-ended': () => import('./execution-ended/handler.ts'),
};
