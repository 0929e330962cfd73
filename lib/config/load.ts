/**
 * Loads and validates the guardian's config files. Every error names the file, the path
 * inside it (with its line where the YAML has one) and what is wrong.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Document,
  isAlias,
  isMap,
  isNode,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  visit,
} from 'yaml';
import type { z } from 'zod';
import { quote } from '../../lambdas/core/text.ts';
import {
  type EnvironmentConfig,
  environmentsFileSchema,
  type GuardianConfig,
  type StackConfig,
  thresholdsFileSchema,
} from './schema.ts';
import { lockTtlProblem } from './timeouts.ts';

/** The repository's own `config/` folder. */
export const DEFAULT_CONFIG_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../config');

/** A config file larger than this is refused before it is parsed. */
const MAX_CONFIG_BYTES = 1024 * 1024;
/**
 * How many alias expansions a file may make (the yaml package's measure): enough to share a
 * health check between environments, far too few for a "billion laughs" alias bomb.
 */
const MAX_ALIAS_COUNT = 100;

/** A config file is missing, unreadable, not YAML, or does not match the schema. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** One line per problem: `file:line path: message`. */
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

function formatPath(p: readonly PropertyKey[]): string {
  if (p.length === 0) return '(top level)';
  return p.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`)).join('');
}

/** A parsed YAML file and where each of its nodes is. */
interface YamlFile {
  readonly file: string;
  readonly doc: Document;
  readonly lines: LineCounter;
}

/**
 * The line a path points at: the line of its last key (or sequence item) that exists in the
 * document, so an unknown key is reported on its own line, a missing one on its parent's key,
 * and a problem with a block value (`lock:`) on the key that opens it. 1 for an empty document.
 */
function lineOf({ doc, lines }: YamlFile, keys: readonly PropertyKey[]): number {
  const lineAt = (offset: number) => lines.linePos(offset).line;
  let node: unknown = doc.contents;
  let line = isNode(node) && node.range ? lineAt(node.range[0]) : 1;
  for (const key of keys) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(key));
      if (!pair) break;
      const at = isNode(pair.key) ? pair.key.range : isNode(pair.value) ? pair.value.range : undefined;
      if (at) line = lineAt(at[0]);
      node = pair.value;
    } else if (isSeq(node) && typeof key === 'number') {
      const item = node.items[key];
      if (!isNode(item)) break;
      if (item.range) line = lineAt(item.range[0]);
      node = item;
    } else {
      break;
    }
  }
  return line;
}

/** `file:line: path: message`, the one shape of every config problem. */
function problemAt(yaml: YamlFile, keys: readonly PropertyKey[], message: string): string {
  return `${yaml.file}:${lineOf(yaml, keys)}: ${formatPath(keys)}: ${message}`;
}

/** Reads and parses `file` as YAML, or throws ConfigError naming the file and the line. */
function readYaml(file: string): { yaml: YamlFile; data: unknown } {
  let text: string;
  try {
    const size = statSync(file).size;
    if (size > MAX_CONFIG_BYTES) {
      throw new ConfigError([`${file}: is ${size} bytes; a config file has at most ${MAX_CONFIG_BYTES}`]);
    }
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a folder, not a file'
          : code === 'ENOTDIR'
            ? 'a folder on its path is a file'
            : code === 'EACCES'
              ? 'permission denied'
              : (code ?? String(err));
    throw new ConfigError([`${file}: cannot read (${why})`]);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return `${file}${pos ? `:${pos.line}:${pos.col}` : ''}: not valid YAML: ${e.message.split('\n')[0]}`;
      }),
    );
  }
  const yaml = { file, doc, lines };
  try {
    return { yaml, data: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) };
  } catch (err) {
    // The yaml package refuses an alias bomb without saying where; point at its first alias.
    let line = 1;
    visit(doc, {
      Alias: (_key, node) => {
        if (node.range) line = lines.linePos(node.range[0]).line;
        return visit.BREAK;
      },
    });
    const message = (err as Error).message;
    throw new ConfigError([
      /alias/i.test(message)
        ? `${file}:${line}: aliases (*name) expand to too much data (more than ${MAX_ALIAS_COUNT} alias expansions): write the values out or use fewer aliases`
        : `${file}:${line}: cannot read the YAML: ${message}`,
    ]);
  }
}

/** Reads `file` and checks it against `schema`; every problem names the file, line and path. */
function parseFile<S extends z.ZodType>(file: string, schema: S): { data: z.infer<S>; yaml: YamlFile } {
  const { yaml, data } = readYaml(file);
  const result = schema.safeParse(data);
  if (result.success) return { data: result.data, yaml };
  throw new ConfigError(
    result.error.issues.flatMap((issue) => {
      const keys = issue.path as PropertyKey[];
      if (issue.code === 'unrecognized_keys') {
        // One problem per unknown key, each on its own line.
        return issue.keys.map((key) => problemAt(yaml, [...keys, key], `unknown key ${quote(key)}`));
      }
      return [problemAt(yaml, keys, issue.message)];
    }),
  );
}

/** Loads `environments.yaml` and `deployment-thresholds.yaml` from `dir` and joins them. */
export function loadConfig(dir: string = DEFAULT_CONFIG_DIR): GuardianConfig {
  const envFile = path.join(dir, 'environments.yaml');
  const thresholdsFile = path.join(dir, 'deployment-thresholds.yaml');
  const problems: string[] = [];
  const attempt = <T>(read: () => T): T | undefined => {
    try {
      return read();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
      return undefined;
    }
  };
  const envs = attempt(() => parseFile(envFile, environmentsFileSchema));
  const thresholds = attempt(() => parseFile(thresholdsFile, thresholdsFileSchema));
  if (!envs || !thresholds) throw new ConfigError(problems);
  const environments: Record<string, EnvironmentConfig> = {};
  const stacks: Record<string, StackConfig> = {};
  for (const [name, { alarmTopic, retention, ...env }] of Object.entries(envs.data.environments)) {
    stacks[name] = { alarmTopic, retention };
    const t = thresholds.data[name];
    // A lock that expires mid-deployment lets a second one in while the first may roll back.
    const ttl = lockTtlProblem(t ? { ...env, thresholds: t } : env);
    if (ttl) problems.push(problemAt(envs.yaml, ['environments', name, 'lock', 'ttlSeconds'], ttl));
    problems.push(
      ...platformProblems(env).map((p) => problemAt(envs.yaml, ['environments', name, ...p.path], p.message)),
    );
    if (!t) {
      problems.push(
        problemAt(
          envs.yaml,
          ['environments', name],
          `no thresholds for this environment in ${thresholdsFile}`,
        ),
      );
      continue;
    }
    // Alarms carry the service in their `service` tag; most teams name it after the workload.
    environments[name] = { ...env, name, thresholds: t, service: env.service ?? env.workload };
  }
  for (const name of Object.keys(thresholds.data)) {
    if (!envs.data.environments[name]) {
      problems.push(
        problemAt(thresholds.yaml, [name], `thresholds for an environment that is not in ${envFile}`),
      );
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { environments, stacks };
}

/** Keys one platform needs and another has no use for (the schema is shared by all platforms). */
function platformProblems(env: {
  readonly platform: string;
  readonly namespace?: string | undefined;
  readonly argo?: unknown;
}): { path: string[]; message: string }[] {
  const problems: { path: string[]; message: string }[] = [];
  if (env.platform !== 'argo-rollouts' && env.argo !== undefined) {
    problems.push({
      path: ['argo'],
      message: `has no meaning on platform ${env.platform}: it is for platform argo-rollouts (the blue-green preview's URL)`,
    });
  }
  if (env.platform === 'kubernetes' && env.namespace === undefined)
    problems.push({
      path: ['namespace'],
      message: "is required on platform kubernetes (the Deployment's namespace)",
    });
  if (env.platform === 'argo-rollouts') {
    if (env.namespace === undefined)
      problems.push({
        path: ['namespace'],
        message: "is required on platform argo-rollouts (the Rollout's namespace)",
      });
    if (env.argo === undefined)
      problems.push({
        path: ['argo'],
        message:
          'is required on platform argo-rollouts: argo.previewUrl, where the preview Service is reached (health check and canary analysis before promotion)',
      });
  }
  if (problems.length > 0) return problems;
  if (env.platform === 'ecs' && env.namespace !== undefined) {
    return [
      {
        path: ['namespace'],
        message:
          "has no meaning on platform ecs: remove it (cluster is the ECS cluster, workload the service, container the task definition's container)",
      },
    ];
  }
  return [];
}

/** Returns one environment's config, or throws naming the known ones. */
export function environmentOf(config: GuardianConfig, name: string): EnvironmentConfig {
  const env = config.environments[name];
  if (!env) {
    throw new ConfigError([
      `unknown environment ${quote(name)}; known: ${Object.keys(config.environments).join(', ')}`,
    ]);
  }
  return env;
}
