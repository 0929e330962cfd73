/**
 * `npm run bench`: figures for the closing notes, printed, never asserted. Synth time, local
 * happy-path execution time with compressed waits, each Lambda bundle's size, and the cold
 * init time of each bundle loaded by a fresh Node process; then the `guardian` CLI as an operator
 * runs it (a fresh process per command, compiled CLI): median wall time and peak memory of
 * `--help`, local `status`, `history` and a local deploy, and `status`/`history` in AWS mode
 * against moto server when it is installed (`npm run test:integration` installs it); then issue 8's
 * alarm benchmarks (bench/alarm.ts): alarm event to the rollback's PATCH, and the alarm handler's
 * throughput with duplicates and concurrent alarms; then issue 9's canary judge (bench/judge.ts):
 * judge time on 2 metrics × 10,000 points, and the false-rollback / detection simulation.
 *
 * The machine is shared: `npm run bench -- SECTION...` runs only those sections (synth, deploy,
 * cli, aws, alarm, judge, judge-sim; `alarm-latency` / `alarm-throughput` for one alarm benchmark).
 */
import '../lib/local/polyfills.ts';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { buildApp } from '../lib/app.ts';
import { loadConfig } from '../lib/config/load.ts';
import { LocalGuardian } from '../lib/local/guardian.ts';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
const config = loadConfig();
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SECTIONS = [
  'synth',
  'deploy',
  'cli',
  'aws',
  'alarm',
  'alarm-latency',
  'alarm-throughput',
  'judge',
  'judge-sim',
] as const;
const selected = process.argv.slice(2).filter((a) => a !== '--');
const unknown = selected.filter((s) => !(SECTIONS as readonly string[]).includes(s));
if (unknown.length > 0) {
  console.error(`unknown bench section ${unknown.join(', ')}; known: ${SECTIONS.join(', ')}`);
  process.exit(2);
}
/** Whether `section` runs: all do when none is named; `alarm` includes both alarm benchmarks. */
const want = (section: (typeof SECTIONS)[number]) =>
  selected.length === 0 ||
  selected.includes(section) ||
  (section.startsWith('alarm-') && selected.includes('alarm'));

// 1. Synth time, without and with esbuild bundling (bundling is what `cdk synth` does).
if (want('synth')) {
  const synth = (bundle: boolean) => {
    const outdir = mkdtempSync(path.join(tmpdir(), 'guardian-bench-'));
    const t = performance.now();
    const { app } = buildApp({ config, bundle, outdir, nag: true });
    app.synth();
    return { ms: performance.now() - t, outdir };
  };
  const noBundle: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = synth(false);
    noBundle.push(r.ms);
    rmSync(r.outdir, { recursive: true, force: true });
  }
  const bundled = synth(true);
  // Stands in for the Lambda runtime's NODE_PATH, where the AWS SDK the bundles import lives.
  symlinkSync(path.resolve('node_modules'), path.join(bundled.outdir, 'node_modules'), 'dir');
  console.log(
    `synth (both stacks, cdk-nag on): ${fmt(median(noBundle))} median of 3 without bundling; ${fmt(bundled.ms)} with esbuild bundling`,
  );

  // 2. Bundle sizes and cold init, per step (one stack's assets; both stacks bundle the same code).
  //    Cold init = importing the bundle, the AWS SDK it uses (the runtime's) included.
  const template = JSON.parse(
    readFileSync(path.join(bundled.outdir, 'GuardianStaging.template.json'), 'utf8'),
  );
  const rows: { step: string; kb: number; initMs: number }[] = [];
  type Res = { Type: string; Metadata?: Record<string, string>; Properties?: { Code?: { S3Key?: string } } };
  for (const res of Object.values(template.Resources as Record<string, Res>)) {
    if (res.Type !== 'AWS::Lambda::Function' || !res.Metadata?.['guardian:step']) continue;
    // Assets are staged as `asset.<hash>` beside the template; the function's S3Key is `<hash>.zip`.
    const hash = String(res.Properties?.Code?.S3Key ?? '').replace(/\.zip$/, '');
    const assetDir = path.join(bundled.outdir, `asset.${hash}`);
    const files = readdirSync(assetDir).filter((f) => /\.(m?js)$/.test(f));
    const kb = files.reduce((n, f) => n + statSync(path.join(assetDir, f)).size, 0) / 1024;
    const entry = path.join(assetDir, files.find((f) => f.startsWith('index')) ?? files[0] ?? 'index.mjs');
    const inits: number[] = [];
    for (let i = 0; i < 5; i++) {
      const out = execFileSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const t=performance.now(); await import(${JSON.stringify(entry)}); console.log(performance.now()-t)`,
        ],
        { env: { ...process.env, AWS_REGION: 'ap-southeast-1', GUARDIAN_ENV_CONFIG: '' } },
      ).toString();
      inits.push(Number(out.trim().split('\n').pop()));
    }
    rows.push({ step: res.Metadata['guardian:step'], kb, initMs: median(inits) });
  }
  for (const r of rows.sort((a, b) => a.step.localeCompare(b.step))) {
    console.log(
      `bundle ${r.step.padEnd(18)} ${r.kb.toFixed(0).padStart(5)} KB minified; cold import ${fmt(r.initMs)} (median of 5, Node ${process.version})`,
    );
  }
  rmSync(bundled.outdir, { recursive: true, force: true });
}

// 3. Local happy path: one deploy execution end to end with compressed waits.
if (want('deploy')) {
  const guardian = await LocalGuardian.start({ config });
  try {
    const times: number[] = [];
    let transitions = 0;
    for (let i = 0; i < RUNS; i++) {
      const r = await guardian.deploy({
        environment: 'staging',
        image: `ghcr.io/buywhere/buywhere-api:v2.0.${i}`,
        trigger: 'ci',
        requestedBy: 'bench',
      });
      if (r.status !== 'SUCCEEDED') throw new Error(`bench deploy failed: ${r.error} ${r.cause}`);
      times.push(r.wallMs);
      transitions = r.transitions;
    }
    console.log(
      `local happy-path deploy: ${fmt(median(times))} median of ${RUNS} (${transitions} state transitions each)`,
    );
  } finally {
    await guardian.close();
  }
}

// 4. The CLI as an operator runs it: one fresh process per command, wall time and peak RSS
//    (GNU time's %M). The first local command of a state folder starts its state service and,
//    after a code or config change, synthesizes once; that run is reported apart, not in the median.
const guardianBin = path.resolve('bin/guardian.js');
if (want('cli') || want('aws')) execFileSync(process.execPath, ['tools/build-cli.mjs'], { stdio: 'inherit' });
const gnuTime = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
const timed = (argv: string[], env: Record<string, string> = {}) => {
  const t = performance.now();
  const r = gnuTime
    ? spawnSync(gnuTime, ['-f', '%M', process.execPath, guardianBin, ...argv], {
        encoding: 'utf8',
        env: { ...process.env, ...env },
      })
    : spawnSync(process.execPath, [guardianBin, ...argv], {
        encoding: 'utf8',
        env: { ...process.env, ...env },
      });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`guardian ${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  const kb = gnuTime ? Number(r.stderr.trim().split('\n').pop()) : Number.NaN;
  return { ms, mb: kb / 1024 };
};
const cliRow = (what: string, argv: string[], runs: number, env: Record<string, string> = {}) => {
  const rs = Array.from({ length: runs }, (_, i) =>
    timed(
      argv.map((a) => a.replace('{i}', String(i))),
      env,
    ),
  );
  const mb = median(rs.map((r) => r.mb));
  console.log(
    `cli ${what.padEnd(28)} ${fmt(median(rs.map((r) => r.ms))).padStart(8)} median of ${runs}; peak ${Number.isNaN(mb) ? '?' : mb.toFixed(0)} MB`,
  );
};
if (want('cli')) {
  const cliState = mkdtempSync(path.join(tmpdir(), 'guardian-bench-cli-'));
  const local = ['--local', '--state-dir', cliState];
  try {
    cliRow('--help', ['--help'], RUNS);
    const first = timed(['status', '--env', 'staging', ...local]);
    console.log(
      `cli first local command          ${fmt(first.ms).padStart(8)} (starts the state service; synthesizes only on a template cache miss)`,
    );
    cliRow('status --local', ['status', '--env', 'staging', ...local], RUNS);
    cliRow('history --local', ['history', '--env', 'staging', ...local], RUNS);
    cliRow(
      'deploy --local',
      ['deploy', '--env', 'staging', '--image', `${config.environments.staging?.image}:v3.0.{i}`, ...local],
      RUNS,
    );
  } finally {
    const { stopStateService } = await import('../lib/local/state-service.ts');
    await stopStateService(cliState);
    rmSync(cliState, { recursive: true, force: true });
  }
}

// 5. AWS mode against moto server (stands in for CloudFormation, DynamoDB and Step Functions).
if (want('aws')) {
  const motoServer = path.join(
    homedir(),
    '.cache',
    'guardian',
    `moto-${process.env.MOTO_VERSION ?? '5.2.5'}`,
    'bin',
    'moto_server',
  );
  if (!existsSync(motoServer)) {
    console.log(
      `cli AWS mode: skipped, moto server is not installed (${motoServer}; \`bash tools/moto/ensure.sh\` installs it)`,
    );
  } else {
    const port = 5300 + Math.floor(Math.random() * 500);
    const moto = spawn(motoServer, ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
    const endpoint = `http://127.0.0.1:${port}`;
    try {
      for (let i = 0; i < 150; i++) {
        if (
          await fetch(`${endpoint}/moto-api/`).then(
            (r) => r.ok,
            () => false,
          )
        )
          break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const awsEnv = {
        AWS_ENDPOINT_URL: endpoint,
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        AWS_REGION: config.environments.staging?.region ?? 'ap-southeast-1',
      };
      const { CloudFormationClient, CreateStackCommand } = await import('@aws-sdk/client-cloudformation');
      const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
      const { SFNClient, CreateStateMachineCommand } = await import('@aws-sdk/client-sfn');
      const { createGuardianTables } = await import('../test/helpers/dynalite.ts');
      const { STACK_OUTPUTS } = await import('../lib/stacks/outputs.ts');
      const region = awsEnv.AWS_REGION;
      await createGuardianTables(
        new DynamoDBClient({
          region,
          endpoint,
          credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
        }),
        {
          deploymentsTable: 'guardian-staging-deployments',
          controlTable: 'guardian-staging-control',
        },
      );
      const sfn = new SFNClient({
        region,
        endpoint,
        credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      });
      const definition = JSON.stringify({ StartAt: 'Done', States: { Done: { Type: 'Succeed' } } });
      const roleArn = 'arn:aws:iam::123456789012:role/guardian';
      const arn = async (name: string) =>
        (await sfn.send(new CreateStateMachineCommand({ name, definition, roleArn }))).stateMachineArn;
      const template = {
        Resources: { Marker: { Type: 'AWS::SNS::Topic' } },
        Outputs: {
          [STACK_OUTPUTS.deployStateMachineArn]: { Value: await arn('guardian-staging-deploy') },
          [STACK_OUTPUTS.rollbackStateMachineArn]: { Value: await arn('guardian-staging-rollback') },
          [STACK_OUTPUTS.deploymentsTableName]: { Value: 'guardian-staging-deployments' },
          [STACK_OUTPUTS.controlTableName]: { Value: 'guardian-staging-control' },
        },
      };
      await new CloudFormationClient({
        region,
        endpoint,
        credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      }).send(
        new CreateStackCommand({ StackName: 'GuardianStaging', TemplateBody: JSON.stringify(template) }),
      );
      cliRow('history (AWS, moto)', ['history', '--env', 'staging'], RUNS, awsEnv);
      cliRow(
        'deploy (AWS, moto; starts)',
        ['deploy', '--env', 'staging', '--image', `${config.environments.staging?.image}:v3.1.{i}`],
        RUNS,
        awsEnv,
      );
    } finally {
      moto.kill();
    }
  }
}

// 6. Issue 8: alarm event to the rollback's PATCH (a deploy, alarm, rollback and OK cycle per event;
//    BENCH_ALARM_EVENTS of them, 200 by default: a cycle takes about 2 s, so the 1,000 take
//    over half an hour of a shared machine), and the alarm handler's throughput (median of 3 runs).
if (want('alarm-latency') || want('alarm-throughput')) {
  const { benchAlarmToPatch, benchAlarmThroughput } = await import('./alarm.ts');
  if (want('alarm-latency')) await benchAlarmToPatch(config, Number(process.env.BENCH_ALARM_EVENTS ?? 200));
  if (want('alarm-throughput')) {
    await benchAlarmThroughput(
      config,
      { releases: 20, alarmsPerRelease: 5, deliveries: 20, concurrency: 32 },
      Number(process.env.BENCH_ALARM_RUNS ?? 3),
    );
  }
}

// 7. Issue 9: the canary judge's time on 2 metrics × 10,000 points (median of BENCH_JUDGE_RUNS, 11 by
//    default), and the simulated canary analyses (BENCH_JUDGE_TRIALS per row, 1,000 by default).
if (want('judge') || want('judge-sim')) {
  const { benchJudgeTime, benchJudgeSim } = await import('./judge.ts');
  if (want('judge')) benchJudgeTime(Number(process.env.BENCH_JUDGE_RUNS ?? 11));
  if (want('judge-sim')) benchJudgeSim(Number(process.env.BENCH_JUDGE_TRIALS ?? 1000));
}
