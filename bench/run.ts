/**
 * `npm run bench`: figures for the closing notes, printed, never asserted. Synth time, local
 * happy-path execution time with compressed waits, each Lambda bundle's size, and the cold
 * init time of each bundle loaded by a fresh Node process.
 */
import '../lib/local/polyfills.ts';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

// 1. Synth time, without and with esbuild bundling (bundling is what `cdk synth` does).
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
const template = JSON.parse(readFileSync(path.join(bundled.outdir, 'GuardianStaging.template.json'), 'utf8'));
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

// 3. Local happy path: one deploy execution end to end with compressed waits.
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
