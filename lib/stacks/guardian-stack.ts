/**
 * One environment's guardian: tables, step functions, and the Deploy and Rollback workflows.
 */
import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from '../config/schema.ts';
import { DeployWorkflow } from '../constructs/deploy-workflow.ts';
import { GuardianTables } from '../constructs/guardian-tables.ts';
import { RollbackWorkflow } from '../constructs/rollback-workflow.ts';
import { GuardianLambdaSteps } from '../constructs/step-function.ts';
import { STACK_OUTPUTS } from './outputs.ts';

/** Properties of {@link GuardianStack}. */
export interface GuardianStackProps extends StackProps {
  /** The environment this stack guards. */
  readonly environment: EnvironmentConfig;
  /**
   * Folder holding `<step>/handler.ts`.
   * @default the repository's `lambdas/`
   */
  readonly handlersDir?: string;
}

/** The guardian of one environment (`GuardianStaging`, `GuardianProduction`, ...). */
export class GuardianStack extends Stack {
  /** The environment this stack guards. */
  readonly environmentConfig: EnvironmentConfig;
  /** Deployments and Control tables. */
  readonly tables: GuardianTables;
  /** The step functions. */
  readonly steps: GuardianLambdaSteps;
  /** `guardian-<env>-deploy`. */
  readonly deploy: DeployWorkflow;
  /** `guardian-<env>-rollback`. */
  readonly rollback: RollbackWorkflow;

  constructor(scope: Construct, id: string, props: GuardianStackProps) {
    super(scope, id, props);
    const env = props.environment;
    this.environmentConfig = env;
    // Production keeps its audit trail and logs when the stack goes; other environments are disposable.
    const production = env.name === 'production';
    const removalPolicy = production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const logRetention = production ? RetentionDays.ONE_YEAR : RetentionDays.ONE_MONTH;

    this.tables = new GuardianTables(this, 'Tables', { environment: env.name, removalPolicy });
    this.steps = new GuardianLambdaSteps(this, 'Steps', {
      environment: env,
      tables: this.tables,
      logRetention,
      removalPolicy,
      ...(props.handlersDir ? { handlersDir: props.handlersDir } : {}),
    });
    const functions = {
      preflight: this.steps.functionOf('preflight'),
      'set-image': this.steps.functionOf('set-image'),
      'rollout-status': this.steps.functionOf('rollout-status'),
      'health-check': this.steps.functionOf('health-check'),
      'record-deployment': this.steps.functionOf('record-deployment'),
      'rollback-prepare': this.steps.functionOf('rollback-prepare'),
      'rollback-apply': this.steps.functionOf('rollback-apply'),
      'rollback-finish': this.steps.functionOf('rollback-finish'),
    };
    this.rollback = new RollbackWorkflow(this, 'Rollback', {
      environment: env,
      functions,
      logRetention,
      removalPolicy,
    });
    this.deploy = new DeployWorkflow(this, 'Deploy', {
      environment: env,
      functions,
      rollback: this.rollback.workflow.stateMachine,
      rollbackTimeout: this.rollback.timeout,
      logRetention,
      removalPolicy,
    });

    // CI and the `guardian` CLI find the workflows and tables by these outputs.
    const outputs: Record<keyof typeof STACK_OUTPUTS, string> = {
      deployStateMachineArn: this.deploy.workflow.stateMachine.stateMachineArn,
      rollbackStateMachineArn: this.rollback.workflow.stateMachine.stateMachineArn,
      deploymentsTableName: this.tables.deployments.tableName,
      controlTableName: this.tables.control.tableName,
    };
    for (const [key, value] of Object.entries(outputs)) {
      new CfnOutput(this, STACK_OUTPUTS[key as keyof typeof STACK_OUTPUTS], { value });
    }
  }
}
