/**
 * The legacy ECS environment's stack and the backup step's IAM (issue 10), from the shipped config:
 * the ECS workload steps may drive the environment's service and nothing else on ECS, never EKS;
 * the backup step may snapshot its environment's database only; the workflows carry the ECS
 * states' names and the backup states.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { STEP_IDS, STEPS } from '../../lambdas/steps.ts';
import { stateMachineDefinitions } from '../../lib/template.ts';
import { statementActions, stepStatements, templateOf } from './fixtures.ts';

const statementsOf = stepStatements;
const actions = statementActions;
/** A resource as text, with CloudFormation's partition and account references kept readable. */
const resourceText = (r: unknown): string =>
  JSON.stringify(r)
    .replace(/\{"Ref":"AWS::Partition"\}/g, 'aws')
    .replace(/\{"Ref":"AWS::AccountId"\}/g, 'ACCOUNT')
    .replace(/\{"Fn::Join":\[""|\]\]\}/g, '')
    .replace(/[",[\]{}]/g, '');
function definitionOfTemplate(t: Template, env: string, kind: 'deploy' | 'rollback') {
  const found = Object.values(stateMachineDefinitions(t)).find((m) => m.name === `guardian-${env}-${kind}`);
  if (!found) throw new Error(`no ${kind} state machine for ${env}`);
  return found.definition;
}
// promote: blue-green environments only (test/infra/argo-stack.test.ts).
const workloadSteps = STEP_IDS.filter(
  (s) => s !== 'promote' && (STEPS[s].ports as readonly string[]).includes('workload'),
);

describe('the staging-ecs stack', () => {
  const t = templateOf('staging-ecs');

  it.each(workloadSteps)(
    'lets %s update and describe the environment service only, and never EKS',
    (step) => {
      const statements = statementsOf(t, step);
      expect(statements.flatMap(actions).filter((a) => a.startsWith('eks:'))).toEqual([]);
      const service = statements.find((s) => actions(s).includes('ecs:UpdateService'));
      expect(service && actions(service).sort()).toEqual(['ecs:DescribeServices', 'ecs:UpdateService']);
      expect(resourceText(service?.Resource)).toMatch(
        /^arn:aws:ecs:ap-southeast-1:ACCOUNT:service\/buywhere-staging\/buywhere-api$/,
      );
      const passRole = statements.find((s) => actions(s).includes('iam:PassRole'));
      expect(passRole?.Condition).toEqual({
        StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' },
      });
    },
  );

  it('names the platform states as the runbook does for ECS', () => {
    const deploy = definitionOfTemplate(t, 'staging-ecs', 'deploy');
    const rollback = definitionOfTemplate(t, 'staging-ecs', 'rollback');
    expect(Object.keys(deploy.States)).toContain('Update service');
    expect(Object.keys(deploy.States)).not.toContain('Set image');
    expect(Object.keys(rollback.States)).toContain('Restore previous task definition');
    expect(Object.keys(rollback.States)).not.toContain('Undo to previous revision');
  });
});

describe('the backup step', () => {
  it.each(['staging', 'production', 'staging-ecs'])(
    "may create, describe, tag and delete only %s's own snapshots of its database",
    (env) => {
      const statements = statementsOf(templateOf(env), 'backup');
      const rds = statements.filter((s) => actions(s).some((a) => a.startsWith('rds:')));
      expect(rds.flatMap(actions).sort()).toEqual(
        [
          'rds:AddTagsToResource',
          'rds:CreateDBSnapshot',
          'rds:DeleteDBSnapshot',
          'rds:DescribeDBSnapshots',
        ].sort(),
      );
      const identifier = env === 'production' ? 'buywhere-prod' : 'buywhere-staging';
      for (const s of rds) {
        for (const r of [s.Resource].flat()) {
          expect(resourceText(r)).toMatch(
            new RegExp(
              `^arn:aws:rds:ap-southeast-1:ACCOUNT:(db:${identifier}|snapshot:guardian-${env}-\\*)$`,
            ),
          );
        }
      }
      // Deleting and tagging: snapshots only, never the database.
      const destructive = rds.filter((s) => actions(s).includes('rds:DeleteDBSnapshot'));
      expect([destructive[0]?.Resource].flat().map(resourceText)).toEqual([
        `arn:aws:rds:ap-southeast-1:ACCOUNT:snapshot:guardian-${env}-*`,
      ]);
      // Restoring is an operator's act, never the step's.
      expect(statements.flatMap(actions).filter((a) => /Restore/.test(a))).toEqual([]);
    },
  );
});
