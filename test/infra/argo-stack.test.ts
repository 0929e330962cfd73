/**
 * The blue-green environment's stack (issue 11), from the shipped config: the Deploy workflow has
 * the runbook's production states in order (preview, preview health check, canary analysis of
 * preview against stable, promote, post-promotion monitoring), the Rollback workflow aborts and
 * restores, only this stack has a promote function, and the Argo workload steps get only
 * `eks:DescribeCluster` on their cluster from IAM.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { STEP_IDS, STEPS } from '../../lambdas/steps.ts';
import { stateMachineDefinitions, stepFunctionsOfTemplate } from '../../lib/template.ts';
import { statementActions, stepStatements, templateOf } from './fixtures.ts';

const ENV = 'production-argo';
type State = {
  Type: string;
  Next?: string;
  Parameters?: Record<string, unknown>;
  Choices?: unknown[];
  Default?: string;
};

function definitionOf(
  t: Template,
  kind: 'deploy' | 'rollback',
): { StartAt: string; States: Record<string, State> } {
  const found = Object.values(stateMachineDefinitions(t)).find((m) => m.name === `guardian-${ENV}-${kind}`);
  if (!found) throw new Error(`no ${kind} state machine for ${ENV}`);
  return found.definition as never;
}

/** The state names reachable from StartAt, breadth first (Next, Choices, Default, Catch). */
function reachable(def: { StartAt: string; States: Record<string, State> }): string[] {
  const seen: string[] = [];
  const queue = [def.StartAt];
  while (queue.length > 0) {
    const name = queue.shift() as string;
    if (seen.includes(name)) continue;
    seen.push(name);
    const s = def.States[name] as State & { Catch?: { Next: string }[] };
    const next = [
      s.Next,
      s.Default,
      ...((s.Choices ?? []) as { Next: string }[]).map((c) => c.Next),
      ...(s.Catch ?? []).map((c) => c.Next),
    ].filter((n): n is string => typeof n === 'string');
    queue.push(...next);
  }
  return seen;
}

/** Whether `to` can be reached from `from` following only Next/Choices/Default (no Catch). */
function leadsTo(def: { States: Record<string, State> }, from: string, to: string): boolean {
  const seen = new Set<string>();
  const queue = [from];
  while (queue.length > 0) {
    const name = queue.shift() as string;
    if (name === to) return true;
    if (seen.has(name)) continue;
    seen.add(name);
    const s = def.States[name];
    if (!s) continue;
    queue.push(
      ...[s.Next, s.Default, ...((s.Choices ?? []) as { Next: string }[]).map((c) => c.Next)].filter(
        (n): n is string => typeof n === 'string',
      ),
    );
  }
  return false;
}

describe('the production-argo stack', () => {
  const t = templateOf(ENV);
  const deploy = definitionOf(t, 'deploy');
  const rollback = definitionOf(t, 'rollback');

  it("runs the runbook's blue-green production workflow, in order", () => {
    const states = reachable(deploy);
    const order = [
      'Preflight checks',
      'Back up database',
      'Set Rollout image',
      'Wait for preview',
      'Check preview status',
      'Health check preview',
      'Canary analysis of preview',
      'Canary round',
      'Promote',
      'Wait for promotion',
      'Check promotion status',
      'Enhanced health check',
      'Post-promotion monitoring',
      'Monitoring round',
      'Record deployment',
    ];
    for (const s of order) expect(states, s).toContain(s);
    for (let i = 1; i < order.length; i++) {
      expect(
        leadsTo(deploy, order[i - 1] as string, order[i] as string),
        `${order[i - 1]} -> ${order[i]}`,
      ).toBe(true);
    }
    // Stable is measured beside the preview: no metrics baseline before the rollout.
    expect(states).not.toContain('Capture metrics baseline');
    expect(states).not.toContain('Set image');
  });

  it('waits for the preview, health-checks the preview Service and compares the preview with stable', () => {
    expect(deploy.States['Check preview status']?.Parameters).toMatchObject({ stage: 'preview' });
    expect(deploy.States['Health check preview']?.Parameters).toMatchObject({ service: 'preview' });
    expect(deploy.States['Check promotion status']?.Parameters).not.toHaveProperty('stage');
    expect(deploy.States['Enhanced health check']?.Parameters).not.toHaveProperty('service');
    expect(deploy.States['Canary round']?.Parameters).toMatchObject({
      compare: 'concurrent',
      'baseline.$': '$.canary.baseline',
    });
    // The promotion's wait runs to its own deadline.
    expect(deploy.States['Check promotion status']?.Parameters).toMatchObject({
      'rolloutDeadlineAt.$': '$.promote.rolloutDeadlineAt',
    });
  });

  it('a failed preview or canary never reaches Promote; any failure rolls back', () => {
    expect(leadsTo(deploy, 'Preview failed', 'Promote')).toBe(false);
    expect(leadsTo(deploy, 'Canary failed', 'Promote')).toBe(false);
    expect(leadsTo(deploy, 'Canary failed', 'Roll back to previous revision')).toBe(true);
    const promoteCatch = (deploy.States.Promote as State & { Catch?: { Next: string }[] }).Catch ?? [];
    expect(promoteCatch.map((c) => c.Next)).toContain('Roll back to previous revision');
  });

  it('the Rollback workflow aborts and restores the stable revision', () => {
    expect(Object.keys(rollback.States)).toContain('Abort and restore stable revision');
    expect(Object.keys(rollback.States)).not.toContain('Undo to previous revision');
  });

  it('has a promote function, with the workload steps getting only eks:DescribeCluster from IAM', () => {
    const steps = Object.values(stepFunctionsOfTemplate(t));
    expect(steps).toContain('promote');
    const workloadSteps = STEP_IDS.filter((s) => (STEPS[s].ports as readonly string[]).includes('workload'));
    for (const step of workloadSteps.filter((s) => steps.includes(s))) {
      const actions = stepStatements(t, step).flatMap(statementActions);
      expect(
        actions.filter(
          (a) =>
            !a.startsWith('logs:') &&
            !a.startsWith('xray:') &&
            !a.startsWith('dynamodb:') &&
            !a.startsWith('cloudwatch:') &&
            !a.startsWith('secretsmanager:') &&
            !a.startsWith('states:') &&
            !a.startsWith('sqs:') &&
            !a.startsWith('kms:') &&
            !a.startsWith('sns:'),
        ),
        step,
      ).toEqual(['eks:DescribeCluster']);
    }
  });

  it.each(['staging', 'production', 'staging-ecs'])('%s has no promote function', (env) => {
    expect(Object.values(stepFunctionsOfTemplate(templateOf(env)))).not.toContain('promote');
  });
});
