/**
 * Step id -> handler module, for the local runner (which binds Task states to the real steps by
 * their `guardian:step` metadata). Static import paths keep the modules visible to bundlers.
 * Kept apart from `lambdas/steps.ts`: a bundle imports that table, and must not import every step.
 */
import type { AnyStep } from './shared/step.ts';
import type { StepId } from './steps.ts';

type StepModule = () => Promise<{ step: AnyStep }>;

/** Loads each step's module on demand. */
export const STEP_MODULES: Record<StepId, StepModule> = {
  preflight: () => import('./preflight/handler.ts'),
  backup: () => import('./backup/handler.ts'),
  'set-image': () => import('./set-image/handler.ts'),
  'rollout-status': () => import('./rollout-status/handler.ts'),
  promote: () => import('./promote/handler.ts'),
  'health-check': () => import('./health-check/handler.ts'),
  'await-signal': () => import('./await-signal/handler.ts'),
  'monitor-round': () => import('./monitor-round/handler.ts'),
  'canary-round': () => import('./canary-round/handler.ts'),
  'record-deployment': () => import('./record-deployment/handler.ts'),
  'rollback-prepare': () => import('./rollback-prepare/handler.ts'),
  'rollback-apply': () => import('./rollback-apply/handler.ts'),
  'rollback-finish': () => import('./rollback-finish/handler.ts'),
  'execution-ended': () => import('./execution-ended/handler.ts'),
  'escalation-notify': () => import('./escalation-notify/handler.ts'),
  'escalation-wait': () => import('./escalation-wait/handler.ts'),
  'alarm-handler': () => import('./alarm-handler/handler.ts'),
  'pagerduty-webhook': () => import('./pagerduty-webhook/handler.ts'),
};
