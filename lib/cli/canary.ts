/**
 * `guardian canary judge --input FILE [--json]`: the canary judge offline, on metric series saved
 * in a JSON file (issue 9). Kayenta's classifier and scoring (lambdas/core/judge), no AWS, no
 * cluster. Exit codes: 0 pass, 1 marginal or fail, 2 bad usage or a malformed file (the message
 * names the JSON path of the bad field, e.g. `metrics[1].baseline[3]: expected number or null`).
 */
import * as z from 'zod';
import { classifyMetric, formatNumber, type MetricResult } from '../../lambdas/core/judge/classifier.ts';
import { scoreMetrics } from '../../lambdas/core/judge/score.ts';
import { printable, quote, shorten } from '../../lambdas/core/text.ts';
import { type ParsedArgs, readJsonInput, requireString, UsageError } from './args.ts';
import { bold, green, jsonDocument, type Output, red } from './format.ts';

const point = z.union([z.number(), z.null()], { error: 'expected number or null' });
const fraction = z
  .number({ error: 'expected a number between 0 and 1' })
  .gt(0, 'must be above 0')
  .lt(1, 'must be below 1 (0.98 means 98%)');
const positive = z.number({ error: 'expected a number' }).positive('must be above 0');

/** The input file of `guardian canary judge`. */
export const judgeInputSchema = z.strictObject({
  metrics: z
    .array(
      z.strictObject({
        name: z
          .string({ error: 'expected a string' })
          .min(1, 'must not be empty')
          .max(200, 'at most 200 characters'),
        direction: z.enum(['increase', 'decrease', 'either'], {
          error: 'expected increase, decrease or either',
        }),
        baseline: z.array(point, { error: 'expected an array of numbers or nulls' }),
        canary: z.array(point, { error: 'expected an array of numbers or nulls' }),
        critical: z.boolean({ error: 'expected true or false' }).optional(),
        nanStrategy: z.enum(['remove', 'replace'], { error: 'expected remove or replace' }).optional(),
        mustHaveData: z.boolean({ error: 'expected true or false' }).optional(),
        effectSize: z
          .strictObject({
            measure: z.enum(['meanRatio', 'cles'], { error: 'expected meanRatio or cles' }).optional(),
            allowedIncrease: positive.optional(),
            allowedDecrease: positive.optional(),
            criticalIncrease: positive.optional(),
            criticalDecrease: positive.optional(),
          })
          .optional(),
        outliers: z
          .strictObject({
            strategy: z.enum(['remove', 'keep'], { error: 'expected remove or keep' }),
            outlierFactor: positive.optional(),
          })
          .optional(),
        group: z.string({ error: 'expected a string' }).min(1, 'must not be empty').optional(),
        weight: z
          .number({ error: 'expected a number' })
          .min(0, 'must be 0 to 100')
          .max(100, 'must be 0 to 100')
          .optional(),
        dryRun: z.boolean({ error: 'expected true or false' }).optional(),
        unit: z.string({ error: 'expected a string' }).max(20, 'at most 20 characters').optional(),
      }),
      { error: 'expected an array of metrics' },
    )
    .min(1, 'needs at least one metric'),
  thresholds: z
    .strictObject({
      pass: z.number({ error: 'expected a number' }).min(0, 'must be 0 to 100').max(100, 'must be 0 to 100'),
      marginal: z
        .number({ error: 'expected a number' })
        .min(0, 'must be 0 to 100')
        .max(100, 'must be 0 to 100'),
    })
    .refine((t) => t.marginal <= t.pass, { message: 'marginal must not be above pass', path: ['marginal'] })
    .optional(),
  classifier: z
    .strictObject({
      confidence: fraction.optional(),
      tolerance: z.number({ error: 'expected a number' }).min(0, 'must not be negative').optional(),
      rootFinder: z.enum(['exact', 'uniroot'], { error: 'expected exact or uniroot' }).optional(),
    })
    .optional(),
});
/** A parsed input file. */
export type JudgeInput = z.infer<typeof judgeInputSchema>;

/** The `--json` document: exactly the fields the issue specifies. */
export interface JudgeOutput {
  readonly verdict: 'pass' | 'marginal' | 'fail';
  readonly score: number;
  readonly metrics: readonly {
    readonly name: string;
    readonly classification: MetricResult['classification'];
    readonly estimate: number | null;
    readonly lowerCI: number | null;
    readonly upperCI: number | null;
    readonly effectSize: number | null;
    readonly critical: boolean;
    readonly reason: string;
  }[];
}

/** `metrics[1].baseline[3]`: a zod path as a JSON path. */
export function jsonPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out || '(the document)';
}

/** Parses the input document, or a UsageError naming the JSON path of every bad field (first 5). */
export function parseJudgeInput(doc: unknown, file: string): JudgeInput {
  const result = judgeInputSchema.safeParse(doc);
  const problems: string[] = [];
  if (!result.success) {
    for (const issue of result.error.issues) {
      const message =
        issue.code === 'unrecognized_keys'
          ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`
          : issue.message;
      problems.push(`${jsonPath(issue.path)}: ${message}`);
    }
  } else {
    const seen = new Set<string>();
    for (const [i, m] of result.data.metrics.entries()) {
      if (seen.has(m.name))
        problems.push(`metrics[${i}].name: duplicate metric name ${quote(shorten(m.name, 60))}`);
      seen.add(m.name);
    }
  }
  if (problems.length > 0) {
    const more = problems.length > 5 ? `; and ${problems.length - 5} more` : '';
    throw new UsageError(
      `${quote(shorten(file, 200))} is not a valid judge input: ${problems.slice(0, 5).join('; ')}${more}`,
      'canary',
    );
  }
  return (result as { data: JudgeInput }).data;
}

/** Judges a parsed input: every metric classified, the score and the verdict. */
export function judge(
  input: JudgeInput,
): JudgeOutput & { readonly scoreReason: string; readonly results: readonly MetricResult[] } {
  const options = {
    confidence: input.classifier?.confidence ?? 0.98,
    tolerance: input.classifier?.tolerance ?? 0.25,
    rootFinder: input.classifier?.rootFinder ?? 'exact',
  } as const;
  const results = input.metrics.map((m) => classifyMetric(m, m.baseline, m.canary, options));
  const scored = scoreMetrics(
    results.map((r, i) => ({
      ...r,
      ...(input.metrics[i]?.weight !== undefined ? { weight: input.metrics[i]?.weight } : {}),
    })),
    input.thresholds ?? { pass: 95, marginal: 75 },
  );
  return {
    verdict: scored.verdict,
    score: scored.score,
    metrics: results.map((r) => ({
      name: r.name,
      classification: r.classification,
      estimate: r.estimate,
      lowerCI: r.lowerCI,
      upperCI: r.upperCI,
      effectSize: r.effectSize,
      critical: r.critical,
      reason: r.reason,
    })),
    scoreReason: scored.reason,
    results,
  };
}

const cell = (v: number | null) => (v === null ? '-' : formatNumber(v));

/** `guardian canary judge --input FILE [--json]`; exit 0 pass, 1 marginal or fail. */
export async function canaryJudge(args: ParsedArgs, output: Output): Promise<number> {
  const file = requireString(args, 'input');
  const input = parseJudgeInput(readJsonInput(file, 'canary'), file);
  const result = judge(input);
  const code = result.verdict === 'pass' ? 0 : 1;
  if (args.values.json === true) {
    const { verdict, score, metrics } = result;
    output.out(jsonDocument({ verdict, score, metrics } satisfies JudgeOutput));
    return code;
  }
  const rows = result.results.map((r) => [
    printable(shorten(r.name, 40)),
    `${r.classification}${r.critical ? ' (critical)' : ''}${r.dryRun ? ' (dryRun)' : ''}`,
    cell(r.estimate),
    r.lowerCI === null || r.upperCI === null ? '-' : `${formatNumber(r.lowerCI)}..${formatNumber(r.upperCI)}`,
    cell(r.effectSize),
  ]);
  const header = ['metric', 'classification', 'estimate', 'CI', 'effect'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cols: readonly string[]) =>
    cols
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  output.out(bold(line(header)));
  for (const [i, r] of rows.entries()) {
    output.out(line(r));
    output.out(`  ${printable((result.results[i] as MetricResult).reason)}`);
  }
  const paint = result.verdict === 'pass' ? green : red;
  output.out(`${paint(`verdict: ${result.verdict}`)}  ${printable(result.scoreReason)}`);
  return code;
}
