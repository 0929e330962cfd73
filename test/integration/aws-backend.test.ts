/**
 * The CLI's AWS backend (no --local) against moto server: it finds the stack's outputs in
 * CloudFormation, starts executions in Step Functions with the right name and input, and reads
 * and writes the guardian's DynamoDB tables. moto stands in for AWS; nothing here is mocked.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { CloudFormationClient, CreateStackCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateStateMachineCommand,
  DescribeExecutionCommand,
  ListExecutionsCommand,
  SFNClient,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoStore } from '../../lambdas/adapters/dynamo-store.ts';
import { runCli } from '../../lib/cli/commands.ts';
import { STACK_OUTPUTS } from '../../lib/stacks/outputs.ts';
import { createGuardianTables } from '../helpers/dynalite.ts';

const REGION = 'ap-southeast-1';
const REPO = 'ghcr.io/buywhere/buywhere-api';
let moto: ChildProcess | undefined;
let endpoint = '';
let rollbackArn: string | undefined;
const saved: Record<string, string | undefined> = {};

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const names = {
  deployments: 'guardian-staging-deployments',
  control: 'guardian-staging-control',
  deploy: 'guardian-staging-deploy',
  rollback: 'guardian-staging-rollback',
};

beforeAll(async () => {
  const server =
    execFileSync('bash', ['tools/moto/ensure.sh'], { encoding: 'utf8' }).trim().split('\n').pop() ?? '';
  const port = await freePort();
  moto = spawn(server, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  moto.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  let exited: number | null | undefined;
  moto.once('exit', (code) => {
    exited = code;
  });
  endpoint = `http://127.0.0.1:${port}`;
  let ready = false;
  for (let i = 0; i < 150 && !ready && exited === undefined; i++) {
    ready = await fetch(`${endpoint}/moto-api/`).then(
      (r) => r.ok,
      () => false,
    );
    if (!ready) await new Promise((r) => setTimeout(r, 200));
  }
  if (!ready) {
    throw new Error(
      `moto server did not come up on ${endpoint} (${exited === undefined ? 'not answering after 30 s' : `exited with ${exited}`}): ${stderr}`,
    );
  }
  for (const [k, v] of Object.entries({
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_SESSION_TOKEN: 'testing',
    AWS_REGION: REGION,
  })) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  await createGuardianTables(new DynamoDBClient({ region: REGION, endpoint }), {
    deploymentsTable: names.deployments,
    controlTable: names.control,
  });
  const sfn = new SFNClient({ region: REGION, endpoint });
  const definition = JSON.stringify({ StartAt: 'Done', States: { Done: { Type: 'Succeed' } } });
  const roleArn = 'arn:aws:iam::123456789012:role/guardian';
  const deployArn = (
    await sfn.send(new CreateStateMachineCommand({ name: names.deploy, definition, roleArn }))
  ).stateMachineArn;
  rollbackArn = (await sfn.send(new CreateStateMachineCommand({ name: names.rollback, definition, roleArn })))
    .stateMachineArn;
  // A stack that carries exactly the outputs GuardianStack publishes.
  const template = {
    Resources: { Marker: { Type: 'AWS::SNS::Topic' } },
    Outputs: {
      [STACK_OUTPUTS.deployStateMachineArn]: { Value: deployArn },
      [STACK_OUTPUTS.rollbackStateMachineArn]: { Value: rollbackArn },
      [STACK_OUTPUTS.deploymentsTableName]: { Value: names.deployments },
      [STACK_OUTPUTS.controlTableName]: { Value: names.control },
    },
  };
  await new CloudFormationClient({ region: REGION, endpoint }).send(
    new CreateStackCommand({ StackName: 'GuardianStaging', TemplateBody: JSON.stringify(template) }),
  );
}, 240_000);

afterAll(() => {
  moto?.kill('SIGTERM');
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

describe('guardian CLI in AWS mode (moto server)', () => {
  it('starts a Deploy execution named after the release and prints its console URL', async () => {
    const r = await cli(
      'deploy',
      '--env',
      'staging',
      '--image',
      `${REPO}:v1.5.0`,
      '--requested-by',
      'rex',
      '--ci-run-url',
      'https://ci.example/runs/7',
    );
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /started arn:aws:states:ap-southeast-1:\d+:execution:guardian-staging-deploy:staging-v1-5-0-[0-9a-f]{8}/,
    );
    expect(r.out).toContain(
      'console.aws.amazon.com/states/home?region=ap-southeast-1#/v2/executions/details/',
    );
    const sfn = new SFNClient({ region: REGION, endpoint });
    const machines = await sfn.send(
      new ListExecutionsCommand({
        stateMachineArn: r.out
          .match(/arn:aws:states:[^:]+:\d+:execution:guardian-staging-deploy/)?.[0]
          .replace(':execution:', ':stateMachine:'),
      }),
    );
    const execution = machines.executions?.[0];
    expect(execution?.name).toMatch(/^staging-v1-5-0-[0-9a-f]{8}$/);
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn: execution?.executionArn }));
    expect(JSON.parse(described.input ?? '{}')).toEqual({
      environment: 'staging',
      image: `${REPO}:v1.5.0`,
      trigger: 'operator',
      requestedBy: 'rex',
      ciRunUrl: 'https://ci.example/runs/7',
      dryRun: false,
    });
  });

  it("reads history and resets the circuit breaker in the stack's tables", async () => {
    const store = new DynamoStore(
      DynamoDBDocumentClient.from(new DynamoDBClient({ region: REGION, endpoint })),
      {
        deploymentsTable: names.deployments,
        controlTable: names.control,
      },
    );
    await store.putRecord({
      environment: 'staging',
      id: 'staging-v1-4-0-0000abcd',
      kind: 'deploy',
      status: 'succeeded',
      executionArn:
        'arn:aws:states:ap-southeast-1:123456789012:execution:guardian-staging-deploy:staging-v1-4-0-0000abcd',
      trigger: 'ci',
      requestedBy: 'github-actions',
      image: `${REPO}:v1.4.0`,
      rollbackPoint: { platform: 'kubernetes', revision: 4, image: `${REPO}:v1.3.0`, podTemplate: {} },
      revision: 5,
      startedAt: '2026-11-20T01:00:00.000Z',
      finishedAt: '2026-11-20T01:04:00.000Z',
    });
    await store.updateBreaker('staging', () => ({
      environment: 'staging',
      state: 'open',
      consecutiveFailures: 2,
      reason: 'two failed releases',
      updatedAt: '2026-11-20T02:00:00.000Z',
    }));

    const h = await cli('history', '--env', 'staging', '--json');
    expect(h.code).toBe(0);
    expect(JSON.parse(h.out)).toMatchObject([
      { id: 'staging-v1-4-0-0000abcd', status: 'succeeded', revision: 5 },
    ]);

    const shown = await cli('circuit-breaker', '--env', 'staging');
    expect(shown.out).toContain('OPEN');
    const reset = await cli('circuit-breaker', '--env', 'staging', '--reset', '--requested-by', 'bolt');
    expect(reset.code).toBe(0);
    expect(await store.getBreaker('staging')).toMatchObject({
      state: 'closed',
      consecutiveFailures: 0,
      reason: 'reset by bolt',
    });
  });

  it('names the stack and what to do when the environment has no deployed stack', async () => {
    const r = await cli('status', '--env', 'production');
    expect(r.code).toBe(1);
    expect(r.err).toContain('cannot read stack GuardianProduction in ap-southeast-1');
    expect(r.err).toContain('--local');
  });

  it('with --wait follows the execution to its end and exits with its result', async () => {
    const sfn = new SFNClient({ region: REGION, endpoint });
    const stillRunning = await cli(
      'deploy',
      '--env',
      'staging',
      '--image',
      `${REPO}:v1.6.0`,
      '--wait',
      '--timeout',
      '3',
    );
    expect(stillRunning.code).toBe(1);
    expect(stillRunning.out).toMatch(/still running after 3 s; it goes on in AWS/);

    // An operator stops the next one from the console while the CLI waits on it.
    const waiting = cli(
      'rollback',
      '--env',
      'staging',
      '--wait',
      '--timeout',
      '60',
      '--annotate',
      'bad release',
    );
    let executionArn: string | undefined;
    for (let i = 0; i < 100 && !executionArn; i++) {
      const list = await sfn.send(new ListExecutionsCommand({ stateMachineArn: rollbackArn }));
      executionArn = list.executions?.find((e) => e.status === 'RUNNING')?.executionArn;
      if (!executionArn) await new Promise((r) => setTimeout(r, 100));
    }
    expect(executionArn).toMatch(/:staging-rollback-[0-9a-f]{8}$/);
    await sfn.send(
      new StopExecutionCommand({ executionArn, error: 'OperatorStopped', cause: 'stopped from the console' }),
    );
    const stopped = await waiting;
    expect(stopped.code).toBe(1);
    expect(stopped.out).toContain('ABORTED');
  });

  it('refuses --wait with --local, and --timeout without --wait', async () => {
    expect(
      await cli('deploy', '--env', 'staging', '--image', `${REPO}:v1.6.0`, '--local', '--wait'),
    ).toMatchObject({
      code: 2,
      err: expect.stringContaining('--local run always waits'),
    });
    expect(
      await cli('deploy', '--env', 'staging', '--image', `${REPO}:v1.6.0`, '--timeout', '5'),
    ).toMatchObject({
      code: 2,
      err: expect.stringContaining('--timeout goes with --wait'),
    });
  });
});
