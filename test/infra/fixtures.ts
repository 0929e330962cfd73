/** Synthesizes the guardian once per test file (without bundling) and hands out its templates. */
import { createRequire } from 'node:module';
import { Template } from 'aws-cdk-lib/assertions';
import type { StepId } from '../../lambdas/steps.ts';
import { buildApp, type GuardianApp } from '../../lib/app.ts';
import { loadConfig } from '../../lib/config/load.ts';
import type { GuardianConfig } from '../../lib/config/schema.ts';
import { stepFunctionsOfTemplate } from '../../lib/template.ts';

let built: { config: GuardianConfig; app: GuardianApp; templates: Record<string, Template> } | undefined;

/** The repository's config, its app (bundle: false, nag: true) and each stack's template. */
export function synthesized(): NonNullable<typeof built> {
  if (!built) {
    const config = loadConfig();
    const app = buildApp({ config, bundle: false });
    const templates: Record<string, Template> = {};
    for (const [name, stack] of Object.entries(app.stacks)) templates[name] = Template.fromStack(stack);
    built = { config, app, templates };
  }
  return built;
}

/** The template of one environment's stack. */
export function templateOf(environment: string): Template {
  const t = synthesized().templates[environment];
  if (!t) throw new Error(`no stack for environment '${environment}'`);
  return t;
}

/** asl-validator ships without types; this is the part of its API the tests use. */
export const aslValidator = createRequire(import.meta.url)('asl-validator') as (
  definition: unknown,
  opts?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errors: { message: string }[]; errorsText(sep?: string): string };

/** One statement of an IAM policy document in a template. */
export interface PolicyStatement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: unknown;
}

/** Every IAM statement attached to the role of `step`'s function in `template`. */
export function stepStatements(template: Template, step: StepId): PolicyStatement[] {
  const entry = Object.entries(stepFunctionsOfTemplate(template)).find(([, s]) => s === step);
  if (!entry) throw new Error(`no function for step ${step}`);
  const fn = template.toJSON().Resources[entry[0]];
  const roleId = fn.Properties.Role['Fn::GetAtt'][0] as string;
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) =>
      (p.Properties.Roles as unknown[]).some((r) => JSON.stringify(r) === JSON.stringify({ Ref: roleId })),
    )
    .flatMap((p) => p.Properties.PolicyDocument.Statement as PolicyStatement[]);
}

/** A statement's actions as a list. */
export const statementActions = (s: PolicyStatement): string[] =>
  Array.isArray(s.Action) ? s.Action : [s.Action];
