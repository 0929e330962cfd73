/**
 * Reads a synthesized guardian stack template: state machine definitions with their tokens
 * resolved to local placeholder ARNs, the step bound to each Lambda function, and the tables'
 * key schemas. The infrastructure tests and the local runner share these, so the runner executes
 * exactly the definitions that would be deployed.
 */
import { CONFIG_METADATA_KEY, STEP_IDS, STEP_METADATA_KEY, type StepId } from '../lambdas/steps.ts';
import { TABLE_METADATA_KEY, type TableRole } from './table-metadata.ts';

/** Account id used in placeholder ARNs. */
export const LOCAL_ACCOUNT = '000000000000';
/** Region used in placeholder ARNs unless told otherwise. */
export const DEFAULT_LOCAL_REGION = 'ap-southeast-1';

/** One resource of a CloudFormation template. */
export interface CfnResourceJson {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
}

/** The parts of a CloudFormation template these helpers read. */
export interface CfnTemplateJson {
  readonly Resources: Record<string, CfnResourceJson>;
}

/**
 * A template as JSON (e.g. `assembly.getStackByName(...).template`), or anything with `toJSON()`
 * returning one (e.g. `Template` from aws-cdk-lib/assertions).
 */
export type TemplateLike =
  | CfnTemplateJson
  | Readonly<Record<string, unknown>>
  | { toJSON(): Record<string, unknown> };

/** Values substituted for pseudo parameters and account-bound ARNs. */
export interface ResolveOptions {
  /** @default 'ap-southeast-1' */
  readonly region?: string;
  /** @default '000000000000' */
  readonly account?: string;
}

/** One state of an Amazon States Language definition. */
export type AslState = Record<string, unknown> & { readonly Type: string };

/** An Amazon States Language definition. */
export interface AslDefinition extends Record<string, unknown> {
  readonly StartAt: string;
  readonly States: Record<string, AslState>;
  readonly TimeoutSeconds?: number;
  readonly Comment?: string;
  readonly QueryLanguage?: string;
}

/** A state machine of the template. */
export interface StateMachineOfTemplate {
  /** Physical name (`guardian-staging-deploy`). */
  readonly name: string;
  /** Placeholder ARN, as other definitions refer to it. */
  readonly arn: string;
  /** The definition with every token resolved. */
  readonly definition: AslDefinition;
}

/** A DynamoDB table of the template, in CreateTable's own terms. */
export interface TableOfTemplate {
  /** `deployments` or `control` (from the `guardian:table` metadata). */
  readonly role: TableRole | undefined;
  readonly TableName: string;
  readonly KeySchema: readonly { AttributeName: string; KeyType: 'HASH' | 'RANGE' }[];
  readonly AttributeDefinitions: readonly { AttributeName: string; AttributeType: string }[];
  readonly GlobalSecondaryIndexes?: readonly {
    IndexName: string;
    KeySchema: readonly { AttributeName: string; KeyType: 'HASH' | 'RANGE' }[];
    Projection: Record<string, unknown>;
  }[];
  /** TTL attribute, if enabled. */
  readonly ttlAttribute?: string;
}

/** Placeholder ARN of the Lambda function with this logical id. */
export function localLambdaArn(logicalId: string, opts: ResolveOptions = {}): string {
  return `arn:aws:lambda:${opts.region ?? DEFAULT_LOCAL_REGION}:${opts.account ?? LOCAL_ACCOUNT}:function:${logicalId}`;
}

/** Placeholder ARN of the state machine with this name. */
export function localStateMachineArn(name: string, opts: ResolveOptions = {}): string {
  return `arn:aws:states:${opts.region ?? DEFAULT_LOCAL_REGION}:${opts.account ?? LOCAL_ACCOUNT}:stateMachine:${name}`;
}

/** The template as plain JSON. */
export function templateJson(template: TemplateLike): CfnTemplateJson {
  const json = (
    typeof (template as { toJSON?: unknown }).toJSON === 'function'
      ? (template as { toJSON(): unknown }).toJSON()
      : template
  ) as CfnTemplateJson | undefined;
  if (!json || typeof json.Resources !== 'object' || json.Resources === null) {
    throw new Error('not a CloudFormation template: it has no Resources object');
  }
  return json;
}

function resourceOf(t: CfnTemplateJson, logicalId: string, where: string): CfnResourceJson {
  const r = t.Resources[logicalId];
  if (!r) throw new Error(`${where}: the template has no resource '${logicalId}'`);
  return r;
}

function stringProp(r: CfnResourceJson, key: string): string | undefined {
  const v = r.Properties?.[key];
  return typeof v === 'string' ? v : undefined;
}

function refOf(t: CfnTemplateJson, logicalId: string, opts: ResolveOptions): string {
  const region = opts.region ?? DEFAULT_LOCAL_REGION;
  const account = opts.account ?? LOCAL_ACCOUNT;
  switch (logicalId) {
    case 'AWS::Partition':
      return 'aws';
    case 'AWS::Region':
      return region;
    case 'AWS::AccountId':
      return account;
    case 'AWS::URLSuffix':
      return 'amazonaws.com';
    case 'AWS::NoValue':
      return '';
  }
  const r = resourceOf(t, logicalId, 'Ref');
  switch (r.Type) {
    case 'AWS::StepFunctions::StateMachine':
      return localStateMachineArn(stringProp(r, 'StateMachineName') ?? logicalId, opts);
    case 'AWS::DynamoDB::Table':
      return stringProp(r, 'TableName') ?? logicalId;
    case 'AWS::Logs::LogGroup':
      return stringProp(r, 'LogGroupName') ?? logicalId;
    default:
      // Lambda functions, roles and the like: the logical id stands in for the physical name.
      return logicalId;
  }
}

function getAttOf(t: CfnTemplateJson, logicalId: string, attr: string, opts: ResolveOptions): string {
  const region = opts.region ?? DEFAULT_LOCAL_REGION;
  const account = opts.account ?? LOCAL_ACCOUNT;
  const r = resourceOf(t, logicalId, 'Fn::GetAtt');
  if (attr !== 'Arn') return `${logicalId}.${attr}`;
  switch (r.Type) {
    case 'AWS::Lambda::Function':
      return localLambdaArn(logicalId, opts);
    case 'AWS::StepFunctions::StateMachine':
      return localStateMachineArn(stringProp(r, 'StateMachineName') ?? logicalId, opts);
    case 'AWS::DynamoDB::Table':
      return `arn:aws:dynamodb:${region}:${account}:table/${refOf(t, logicalId, opts)}`;
    case 'AWS::IAM::Role':
      return `arn:aws:iam::${account}:role/${logicalId}`;
    case 'AWS::Logs::LogGroup':
      return `arn:aws:logs:${region}:${account}:log-group:${refOf(t, logicalId, opts)}:*`;
    default:
      return `arn:aws:cloudformation:${region}:${account}:resource/${logicalId}`;
  }
}

/**
 * Resolves the intrinsics CDK emits (Ref, Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split, Fn::Sub
 * without a variable map) to placeholder values; anything else is an error naming it.
 */
export function resolveIntrinsics(
  value: unknown,
  template: TemplateLike,
  opts: ResolveOptions = {},
): unknown {
  const t = templateJson(template);
  const resolve = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(resolve);
    if (v === null || typeof v !== 'object') return v;
    const entries = Object.entries(v as Record<string, unknown>);
    const [key, arg] = entries[0] ?? [];
    if (entries.length === 1 && key !== undefined && (key === 'Ref' || key.startsWith('Fn::'))) {
      switch (key) {
        case 'Ref':
          return refOf(t, String(arg), opts);
        case 'Fn::GetAtt': {
          const [id, attr] = Array.isArray(arg) ? arg : String(arg).split('.');
          return getAttOf(t, String(id), String(attr), opts);
        }
        case 'Fn::Join': {
          const [sep, parts] = arg as [string, unknown[]];
          return (resolve(parts) as unknown[]).map(String).join(sep);
        }
        case 'Fn::Select': {
          const [index, list] = arg as [number | string, unknown];
          return (resolve(list) as unknown[])[Number(index)];
        }
        case 'Fn::Split': {
          const [sep, source] = arg as [string, unknown];
          return String(resolve(source)).split(sep);
        }
        case 'Fn::Sub': {
          if (typeof arg !== 'string') throw new Error('Fn::Sub with a variable map is not supported');
          return arg.replace(/\$\{([^}!]+)\}/g, (_m, name: string) => {
            const [id, attr] = name.split('.');
            return attr ? getAttOf(t, id ?? '', attr, opts) : refOf(t, name, opts);
          });
        }
        default:
          throw new Error(`cannot resolve ${key} locally`);
      }
    }
    return Object.fromEntries(entries.map(([k, x]) => [k, resolve(x)]));
  };
  return resolve(value);
}

/** State machines of the template by logical id, with their definitions resolved and parsed. */
export function stateMachineDefinitions(
  template: TemplateLike,
  opts: ResolveOptions = {},
): Record<string, StateMachineOfTemplate> {
  const t = templateJson(template);
  const out: Record<string, StateMachineOfTemplate> = {};
  for (const [id, r] of Object.entries(t.Resources)) {
    if (r.Type !== 'AWS::StepFunctions::StateMachine') continue;
    const name = stringProp(r, 'StateMachineName') ?? id;
    const raw = resolveIntrinsics(r.Properties?.DefinitionString, t, opts);
    if (typeof raw !== 'string') throw new Error(`state machine ${id} has no DefinitionString`);
    let definition: AslDefinition;
    try {
      definition = JSON.parse(raw) as AslDefinition;
    } catch (err) {
      throw new Error(`state machine ${id}: definition is not JSON after resolving tokens`, { cause: err });
    }
    out[id] = { name, arn: localStateMachineArn(name, opts), definition };
  }
  return out;
}

/** Lambda functions of the template by logical id -> the step each runs (`guardian:step` metadata). */
export function stepFunctionsOfTemplate(template: TemplateLike): Record<string, StepId> {
  const t = templateJson(template);
  const out: Record<string, StepId> = {};
  for (const [id, r] of Object.entries(t.Resources)) {
    if (r.Type !== 'AWS::Lambda::Function') continue;
    const step = r.Metadata?.[STEP_METADATA_KEY];
    if (step === undefined) continue;
    if (!(STEP_IDS as readonly unknown[]).includes(step)) {
      throw new Error(
        `Lambda function ${id}: ${STEP_METADATA_KEY} metadata '${String(step)}' is not a known step`,
      );
    }
    out[id] = step as StepId;
  }
  return out;
}

/** Environment variables of a Lambda function, resolved to placeholder values. */
export function lambdaEnvironmentOf(
  template: TemplateLike,
  logicalId: string,
  opts: ResolveOptions = {},
): Record<string, string> {
  const t = templateJson(template);
  const r = resourceOf(t, logicalId, 'lambdaEnvironmentOf');
  const vars = (r.Properties?.Environment as { Variables?: unknown } | undefined)?.Variables ?? {};
  const resolved = resolveIntrinsics(vars, t, opts) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(resolved).map(([k, v]) => [k, String(v)]));
}

/** DynamoDB tables of the template by logical id, ready for CreateTable (plus role and TTL). */
export function tablesOfTemplate(template: TemplateLike): Record<string, TableOfTemplate> {
  const t = templateJson(template);
  const out: Record<string, TableOfTemplate> = {};
  for (const [id, r] of Object.entries(t.Resources)) {
    if (r.Type !== 'AWS::DynamoDB::Table') continue;
    const p = (r.Properties ?? {}) as Record<string, unknown>;
    const ttl = p.TimeToLiveSpecification as { AttributeName?: string; Enabled?: boolean } | undefined;
    const role = r.Metadata?.[TABLE_METADATA_KEY];
    out[id] = {
      role: role === 'deployments' || role === 'control' ? role : undefined,
      TableName: typeof p.TableName === 'string' ? p.TableName : id,
      KeySchema: p.KeySchema as TableOfTemplate['KeySchema'],
      AttributeDefinitions: p.AttributeDefinitions as TableOfTemplate['AttributeDefinitions'],
      ...(p.GlobalSecondaryIndexes
        ? { GlobalSecondaryIndexes: p.GlobalSecondaryIndexes as TableOfTemplate['GlobalSecondaryIndexes'] }
        : {}),
      ...(ttl?.Enabled && ttl.AttributeName ? { ttlAttribute: ttl.AttributeName } : {}),
    };
  }
  return out;
}

/** A step function of the template, as the local runner binds it. */
export interface FunctionOfTemplate {
  readonly logicalId: string;
  readonly stepId: StepId;
  /** Placeholder ARN, as the state machine definitions refer to it. */
  readonly arn: string;
  /** Environment variables as in the template (table names are still `{Ref: <table logical id>}`). */
  readonly environment: Record<string, unknown>;
  /** The config slice baked into the function's bundle (its `guardian:config` metadata). */
  readonly config: unknown;
}

/** Everything the local runner needs from one stack's template. */
export interface StackTemplateInfo {
  /** Tables with CreateTable-ready `properties` (keys, attributes, GSIs, billing mode). */
  readonly tables: readonly {
    readonly logicalId: string;
    readonly role: TableRole | undefined;
    readonly ttlAttribute?: string;
    readonly properties: Record<string, unknown>;
  }[];
  readonly functions: readonly FunctionOfTemplate[];
  readonly stateMachines: StateMachineOfTemplate[];
}

/** Tables, step functions and resolved state machine definitions of one stack's template. */
export function stackTemplateInfo(template: TemplateLike, opts: ResolveOptions = {}): StackTemplateInfo {
  const t = templateJson(template);
  const tables = Object.entries(tablesOfTemplate(t)).map(([logicalId, spec]) => ({
    logicalId,
    role: spec.role,
    ...(spec.ttlAttribute ? { ttlAttribute: spec.ttlAttribute } : {}),
    // Only what CreateTable understands: CloudFormation-only properties (PITR, SSE shape) stay out.
    properties: {
      TableName: spec.TableName,
      KeySchema: spec.KeySchema,
      AttributeDefinitions: spec.AttributeDefinitions,
      ...(spec.GlobalSecondaryIndexes ? { GlobalSecondaryIndexes: spec.GlobalSecondaryIndexes } : {}),
      BillingMode: 'PAY_PER_REQUEST',
    },
  }));
  const functions = Object.entries(stepFunctionsOfTemplate(t)).map(([logicalId, stepId]) => {
    const env = (t.Resources[logicalId]?.Properties?.Environment as { Variables?: Record<string, unknown> })
      ?.Variables;
    const config = (t.Resources[logicalId] as { Metadata?: Record<string, unknown> } | undefined)?.Metadata?.[
      CONFIG_METADATA_KEY
    ];
    return {
      logicalId,
      stepId,
      arn: localLambdaArn(logicalId, opts),
      environment: { ...(env ?? {}) },
      config,
    };
  });
  return { tables, functions, stateMachines: Object.values(stateMachineDefinitions(t, opts)) };
}
