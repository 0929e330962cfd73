/**
 * The Deploy workflow (docs/workflows.md): preflight, set image, wait for the rollout, enhanced
 * health check, post-deployment monitoring, record; any failure after the rollout began (an
 * alarm that ends a wait included) runs the Rollback workflow as a linked child execution.
 */
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  Choice,
  Condition,
  Fail,
  type IChainable,
  IntegrationPattern,
  type IStateMachine,
  JsonPath,
  Pass,
  Result,
  Succeed,
  TaskInput,
  Wait,
  WaitTime,
} from 'aws-cdk-lib/aws-stepfunctions';
import { StepFunctionsStartExecution } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { REFUSAL_ERRORS } from '../../lambdas/core/errors.ts';
import { ROLLBACK_CHILD_SUFFIX, stateMachineName } from '../../lambdas/core/naming.ts';
import type { TaskStepId } from '../../lambdas/steps.ts';
import type { EnvironmentConfig } from '../config/schema.ts';
import { deployTimeoutSeconds, lockTtlProblem } from '../config/timeouts.ts';
import {
  FAILURE_PATH,
  GuardianStateMachine,
  lambdaStepTask,
  signalWait,
  watchRollout,
} from './guardian-state-machine.ts';
import { platformStates } from './platform-states.ts';

/**
 * Longest a Deploy execution of `env` may run: the rollout deadline and the health-check budget,
 * then a full Rollback execution, plus slack for retries and cold starts (`lib/config/timeouts.ts`).
 */
export function deployTimeoutOf(env: EnvironmentConfig, rollbackTimeout: Duration): Duration {
  return Duration.seconds(deployTimeoutSeconds(env, rollbackTimeout.toSeconds()));
}

/**
 * Throws unless the environment lock outlives a Deploy execution: a lock that expires mid-rollout
 * lets a second deployment in while the first may still roll back. `loadConfig` refuses such a
 * config with its file and line; this is the backstop for configs built in code.
 */
export function assertLockOutlastsDeploy(env: EnvironmentConfig, rollbackTimeout: Duration): void {
  const problem = lockTtlProblem(env, rollbackTimeout.toSeconds());
  if (problem === undefined) return;
  throw new Error(`DeployWorkflow: environments.${env.name}.lock.ttlSeconds: ${problem}`);
}

/** Properties of {@link DeployWorkflow}. */
export interface DeployWorkflowProps {
  /** The stack's environment: poll interval, health-check retries, deadlines. */
  readonly environment: EnvironmentConfig;
  /**
   * Step functions by step id (`canary-round` only where the environment has a canary analysis,
   * `backup` only where it has a database).
   */
  readonly functions: Readonly<
    Record<Exclude<TaskStepId, 'canary-round' | 'backup' | 'promote'>, IFunction>
  > & {
    readonly 'canary-round'?: IFunction;
    readonly backup?: IFunction;
    /** Blue-green platforms only. */
    readonly promote?: IFunction;
  };
  /** The Rollback state machine, run to completion on any failure after the rollout began. */
  readonly rollback: IStateMachine;
  /** How long a Rollback execution may take (added to this workflow's timeout). */
  readonly rollbackTimeout: Duration;
  /**
   * Retention of the execution log group.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * Removal policy of the execution log group.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** `guardian-<env>-deploy`. */
export class DeployWorkflow extends Construct {
  /** The L3 state machine (definition, logs, tracing, alarms). */
  readonly workflow: GuardianStateMachine;
  /** The timeout given to the state machine; the environment lock outlasts it. */
  readonly timeout: Duration;

  constructor(scope: Construct, id: string, props: DeployWorkflowProps) {
    super(scope, id);
    const env = props.environment;
    assertLockOutlastsDeploy(env, props.rollbackTimeout);
    const fn = props.functions;
    const catchAll = { resultPath: FAILURE_PATH };

    const refused = new Fail(this, 'Deployment refused', {
      errorPath: '$.failure.Error',
      causePath: '$.failure.Cause',
    });
    const preflightFailed = new Fail(this, 'Preflight failed', {
      errorPath: '$.failure.Error',
      causePath: '$.failure.Cause',
    });
    const rollbackFailed = new Fail(this, 'Rollback failed', {
      error: 'RollbackFailed',
      causePath: '$.failure.Cause',
    });
    const rolledBack = new Fail(this, 'Deployment rolled back', {
      error: 'DeploymentRolledBack',
      causePath: '$.failure.Cause',
    });

    const rollBack = new StepFunctionsStartExecution(this, 'Roll back to previous revision', {
      stateMachine: props.rollback,
      integrationPattern: IntegrationPattern.RUN_JOB,
      // Adds AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID so the console links parent and child.
      associateWithParent: true,
      // The child is named after the deployment, so the console shows which release it undid.
      name: JsonPath.format(`{}${ROLLBACK_CHILD_SUFFIX}`, JsonPath.executionName),
      input: TaskInput.fromObject({
        'environment.$': '$.deployment.environment',
        'deploymentId.$': '$.deployment.deploymentId',
        'reason.$': '$.failure.Cause',
        trigger: 'deploy-failure',
        requestedBy: 'guardian',
      }),
      resultPath: '$.rollbackExecution',
    });
    // The child records its own failure when it gets that far; when it is refused or crashes
    // first, this records it on the deployment, opens the breaker and releases the lock.
    const recordFailedRollback = lambdaStepTask(this, 'Record failed rollback', fn['record-deployment'], {
      payload: { 'deployment.$': '$.deployment', outcome: 'rollback-failed', 'failure.$': '$.failure' },
      resultPath: '$.record',
    });
    recordFailedRollback.addCatch(rollbackFailed, { errors: ['States.ALL'], resultPath: '$.recordFailure' });
    recordFailedRollback.next(rollbackFailed);
    rollBack.addCatch(recordFailedRollback, { errors: ['States.ALL'], ...catchAll });
    rollBack.next(rolledBack);

    const preflight = lambdaStepTask(this, 'Preflight checks', fn.preflight, {
      payload: { 'input.$': '$', 'execution.$': '$$.Execution' },
      resultPath: '$.deployment',
    });
    preflight.addCatch(refused, { errors: [...REFUSAL_ERRORS], ...catchAll });
    preflight.addCatch(preflightFailed, { errors: ['States.ALL'], ...catchAll });

    const record = lambdaStepTask(this, 'Record deployment', fn['record-deployment'], {
      payload: { 'deployment.$': '$.deployment', 'rollout.$': '$.rollout', 'health.$': '$.health' },
      resultPath: '$.record',
    });
    // A critical alarm that arrived after the last monitoring round: the release is not promoted.
    record.addCatch(rollBack, { errors: ['AlarmFiredError'], ...catchAll });

    // Post-deployment monitoring (deployment-monitor.sh monitor): a round every interval for the
    // configured duration; the wait between rounds is one an alarm ends at once.
    const succeeded = record.next(new Succeed(this, 'Deployment succeeded'));
    const round = lambdaStepTask(this, 'Monitoring round', fn['monitor-round'], {
      payload: { 'deployment.$': '$.deployment', 'monitoring.$': '$.monitoring.state' },
      resultPath: '$.monitoring',
    });
    round.addCatch(rollBack, { errors: ['States.ALL'], ...catchAll });
    const monitoringFailed = new Pass(this, 'Monitoring failed', {
      parameters: { Error: 'MonitoringFailedError', 'Cause.$': '$.monitoring.reason' },
      resultPath: FAILURE_PATH,
    }).next(rollBack);
    const waitForRound = signalWait(this, 'Wait for next monitoring round', {
      awaitSignal: fn['await-signal'],
      deploymentPath: '$.deployment',
      phase: 'monitoring',
      seconds: env.monitoring.intervalSeconds,
      next: round,
      onFailure: rollBack,
    });
    round.next(
      new Choice(this, 'Monitoring verdict?')
        .when(Condition.stringEquals('$.monitoring.verdict', 'rollback'), monitoringFailed)
        .when(Condition.stringEquals('$.monitoring.verdict', 'complete'), succeeded)
        .otherwise(waitForRound),
    );
    const blueGreen = env.platform === 'argo-rollouts';
    const monitor = new Pass(this, blueGreen ? 'Post-promotion monitoring' : 'Post-deployment monitoring', {
      result: Result.fromObject({ state: null }),
      resultPath: '$.monitoring',
    }).next(waitForRound);

    // Canary analysis (canary-analysis.sh --duration 300): the new release's metrics against a
    // baseline, judged every interval; a fail (or a critical metric) ends it early and rolls back
    // with the per-metric explanation; too little evidence holds the release and pages, and an
    // operator decides (guardian canary approve|reject) before the hold runs out, which rolls back.
    // Rolling platforms compare with the release before, measured before the rollout; blue-green
    // compares the preview with stable over the same window, before promotion.
    const canary = env.canary;
    const setImage = lambdaStepTask(this, platformStates(env).startRollout, fn['set-image'], {
      payload: { 'deployment.$': '$.deployment' },
      resultPath: '$.setImage',
    });
    setImage.addCatch(rollBack, { errors: ['States.ALL'], ...catchAll });

    let rollout: IChainable;
    let beforeRollout: IChainable;
    if (blueGreen) {
      // The runbook's production workflow: deploy to preview -> health check on preview -> canary
      // analysis of preview vs stable -> promote -> post-promotion monitoring -> rollback after
      // promotion when monitoring (or an alarm) says so.
      const promote = fn.promote;
      if (!promote) throw new Error('DeployWorkflow: a blue-green environment has no promote function');
      const promoteTask = lambdaStepTask(this, 'Promote', promote, {
        payload: { 'deployment.$': '$.deployment' },
        resultPath: '$.promote',
      });
      promoteTask.addCatch(rollBack, { errors: ['States.ALL'], ...catchAll });
      const watchPromotion = watchRollout(this, {
        names: {
          wait: 'Wait for promotion',
          check: 'Check promotion status',
          complete: 'Promotion complete?',
          failed: 'Promotion failed',
          health: 'Enhanced health check',
        },
        targetPath: '$.deployment',
        deadlinePath: '$.promote.rolloutDeadlineAt',
        rolloutStatus: fn['rollout-status'],
        healthCheck: fn['health-check'],
        environment: env,
        onFailure: rollBack,
        onHealthy: monitor,
        awaitSignal: fn['await-signal'],
      });
      promoteTask.next(watchPromotion);
      const analysis = canary
        ? this.canaryPhase(canary, { fn, monitor: promoteTask, rollBack, concurrent: true })
        : promoteTask;
      const watchPreview = watchRollout(this, {
        names: {
          wait: 'Wait for preview',
          check: 'Check preview status',
          complete: 'Preview ready?',
          failed: 'Preview failed',
          health: 'Health check preview',
        },
        stage: 'preview',
        targetPath: '$.deployment',
        deadlinePath: '$.setImage.rolloutDeadlineAt',
        rolloutStatus: fn['rollout-status'],
        healthCheck: fn['health-check'],
        environment: env,
        onFailure: rollBack,
        onHealthy: analysis,
        awaitSignal: fn['await-signal'],
      });
      rollout = setImage.next(watchPreview);
      beforeRollout = rollout;
    } else {
      const afterHealthy = canary
        ? this.canaryPhase(canary, { fn, monitor, rollBack, concurrent: false })
        : monitor;
      const watch = watchRollout(this, {
        names: {
          wait: 'Wait for rollout',
          check: 'Check rollout status',
          complete: 'Rollout complete?',
          failed: 'Rollout failed',
          health: 'Enhanced health check',
        },
        targetPath: '$.deployment',
        deadlinePath: '$.setImage.rolloutDeadlineAt',
        rolloutStatus: fn['rollout-status'],
        healthCheck: fn['health-check'],
        environment: env,
        onFailure: rollBack,
        onHealthy: afterHealthy,
        awaitSignal: fn['await-signal'],
      });
      rollout = setImage.next(watch);
      beforeRollout = canary ? this.baselinePhase(env, fn, rollout) : rollout;
    }
    const definition = preflight.next(
      new Choice(this, 'Dry run?')
        .when(Condition.booleanEquals('$.deployment.dryRun', true), new Succeed(this, 'Dry run complete'))
        .otherwise(env.backup.database !== 'none' ? this.backupPhase(env, fn, beforeRollout) : beforeRollout),
    );

    this.timeout = deployTimeoutOf(env, props.rollbackTimeout);
    this.workflow = new GuardianStateMachine(this, 'Workflow', {
      stateMachineName: stateMachineName(env.name, 'deploy'),
      definition,
      timeout: this.timeout,
      ...(props.logRetention ? { logRetention: props.logRetention } : {}),
      ...(props.removalPolicy ? { removalPolicy: props.removalPolicy } : {}),
    });
  }

  /**
   * "Back up database" (the runbook's step 1, `pre-deploy-backup.sh backup`): a snapshot of the
   * environment's database, then "Check snapshot" every poll interval until it is available. A
   * backup that cannot start, fails or outlives its deadline ends the execution at "Backup failed"
   * before anything changes; the execution-ended step gives the lock back and fails the record.
   */
  private backupPhase(
    env: EnvironmentConfig,
    fn: DeployWorkflowProps['functions'],
    next: IChainable,
  ): IChainable {
    const backup = fn.backup;
    if (!backup)
      throw new Error('DeployWorkflow: the environment backs up a database but has no backup function');
    const failed = new Fail(this, 'Backup failed', {
      errorPath: '$.failure.Error',
      causePath: '$.failure.Cause',
    });
    const start = lambdaStepTask(this, 'Back up database', backup, {
      payload: { 'deployment.$': '$.deployment', phase: 'start' },
      resultPath: '$.backup',
    });
    start.addCatch(failed, { errors: ['States.ALL'], resultPath: FAILURE_PATH });
    const check = lambdaStepTask(this, 'Check snapshot', backup, {
      payload: { 'deployment.$': '$.deployment', phase: 'check' },
      resultPath: '$.backup',
    });
    check.addCatch(failed, { errors: ['States.ALL'], resultPath: FAILURE_PATH });
    const wait = new Wait(this, 'Wait for snapshot', {
      time: WaitTime.duration(Duration.seconds(env.backup.pollIntervalSeconds)),
    }).next(check);
    start.next(wait);
    check.next(
      new Choice(this, 'Snapshot available?')
        .when(Condition.stringEquals('$.backup.outcome', 'available'), next)
        .otherwise(wait),
    );
    return start;
  }

  /**
   * "Capture metrics baseline": the current release's metrics before anything changes. A provider
   * with history (Prometheus, CloudWatch) reads the window before this deployment in one call; a
   * direct scrape has no history, so the current release is watched for the analysis duration,
   * one scrape per interval, before the rollout starts. Failing to read them fails the deployment
   * before the rollout (the execution-ended step releases the lock): a canary analysis without a
   * baseline could only guess.
   */
  private baselinePhase(
    env: EnvironmentConfig,
    fn: DeployWorkflowProps['functions'],
    rollout: IChainable,
  ): IChainable {
    const canaryRound = canaryFunction(fn);
    const failed = new Fail(this, 'Metrics baseline failed', {
      errorPath: '$.failure.Error',
      causePath: '$.failure.Cause',
    });
    const capture = lambdaStepTask(this, 'Capture metrics baseline', canaryRound, {
      payload: { 'deployment.$': '$.deployment', phase: 'baseline', 'canary.$': '$.baseline.state' },
      resultPath: '$.baseline',
    });
    capture.addCatch(failed, { errors: ['States.ALL'], resultPath: FAILURE_PATH });
    const start = new Pass(this, 'Metrics baseline', {
      result: Result.fromObject({ state: null }),
      resultPath: '$.baseline',
    }).next(capture);
    // One Choice for every provider: a provider with history answers `ready` at once; the local
    // runner scrapes its demo API whatever provider the environment's config names.
    const interval = env.canary?.intervalSeconds ?? 30;
    const wait = new Wait(this, 'Wait for next baseline scrape', {
      time: WaitTime.duration(Duration.seconds(interval)),
    }).next(capture);
    capture.next(
      new Choice(this, 'Baseline complete?')
        .when(Condition.stringEquals('$.baseline.outcome', 'ready'), rollout)
        .otherwise(wait),
    );
    return start;
  }

  /** The canary analysis between the enhanced health check and post-deployment monitoring. */
  private canaryPhase(
    canary: NonNullable<EnvironmentConfig['canary']>,
    o: {
      fn: DeployWorkflowProps['functions'];
      monitor: IChainable;
      rollBack: IChainable;
      /** Blue-green: stable is measured in each round beside the preview (no earlier baseline). */
      concurrent: boolean;
    },
  ): IChainable {
    const { fn, monitor, rollBack, concurrent } = o;
    const round = lambdaStepTask(this, 'Canary round', canaryFunction(fn), {
      payload: {
        'deployment.$': '$.deployment',
        phase: 'canary',
        'canary.$': '$.canary.state',
        ...(concurrent
          ? { compare: 'concurrent', 'baseline.$': '$.canary.baseline' }
          : { 'baseline.$': '$.baseline.state' }),
      },
      resultPath: '$.canary',
    });
    round.addCatch(rollBack, { errors: ['States.ALL'], resultPath: FAILURE_PATH });
    const failed = new Pass(this, 'Canary failed', {
      parameters: { Error: 'CanaryFailedError', 'Cause.$': '$.canary.reason' },
      resultPath: FAILURE_PATH,
    }).next(rollBack);
    const holdExpired = new Pass(this, 'Hold expired', {
      parameters: {
        Error: 'CanaryInconclusiveError',
        // No `.$`: CDK adds it to a JsonPath token's key ('Cause.$' rendered as 'Cause.$.$').
        Cause: JsonPath.format(
          `no operator decided within ${canary.hold.seconds} s of an inconclusive canary analysis: {}`,
          JsonPath.stringAt('$.canary.reason'),
        ),
      },
      resultPath: FAILURE_PATH,
    }).next(rollBack);
    const hold = signalWait(this, 'Hold for operator decision', {
      awaitSignal: fn['await-signal'],
      deploymentPath: '$.deployment',
      phase: 'hold',
      seconds: canary.hold.seconds,
      next: monitor,
      onTimeout: holdExpired,
      onFailure: rollBack,
    });
    const wait = signalWait(this, 'Wait for next canary round', {
      awaitSignal: fn['await-signal'],
      deploymentPath: '$.deployment',
      phase: 'canary',
      seconds: canary.intervalSeconds,
      next: round,
      onFailure: rollBack,
    });
    round.next(
      new Choice(this, 'Canary verdict?')
        .when(Condition.stringEquals('$.canary.outcome', 'continue'), wait)
        .when(Condition.stringEquals('$.canary.outcome', 'pass'), monitor)
        .when(Condition.stringEquals('$.canary.outcome', 'inconclusive'), hold)
        .otherwise(failed),
    );
    return new Pass(this, concurrent ? 'Canary analysis of preview' : 'Canary analysis', {
      result: Result.fromObject(concurrent ? { state: null, baseline: null } : { state: null }),
      resultPath: '$.canary',
    }).next(round);
  }
}

function canaryFunction(fn: DeployWorkflowProps['functions']): IFunction {
  const f = fn['canary-round'];
  if (!f)
    throw new Error('DeployWorkflow: the environment has a canary analysis but no canary-round function');
  return f;
}
