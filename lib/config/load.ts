/**
 * Loads and validates the guardian's config files. Every error names the file, the path
 * inside it (with its line where the YAML has one) and what is wrong.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isNode, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import {
  type EnvironmentConfig,
  environmentsFileSchema,
  type GuardianConfig,
  type StackConfig,
  thresholdsFileSchema,
} from './schema.ts';

/** The repository's own `config/` folder. */
export const DEFAULT_CONFIG_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../config');

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

function parseFile<S extends z.ZodType>(file: string, schema: S): z.infer<S> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return `${file}${pos ? `:${pos.line}:${pos.col}` : ''}: not valid YAML: ${e.message.split('\n')[0]}`;
      }),
    );
  }
  const result = schema.safeParse(doc.toJS());
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => {
      const keys = issue.path as PropertyKey[];
      // Point at the deepest node that exists in the document (an unknown key's parent, say).
      let line = '';
      for (let n = keys.length; n >= 0; n--) {
        const node = doc.getIn(keys.slice(0, n) as unknown[], true);
        if (isNode(node) && node.range) {
          line = `:${lineCounter.linePos(node.range[0]).line}`;
          break;
        }
      }
      let where = formatPath(keys);
      let message = issue.message;
      if (issue.code === 'unrecognized_keys') {
        where = formatPath([...keys, issue.keys[0] ?? '']);
        message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
      }
      return `${file}${line}: ${where}: ${message}`;
    }),
  );
}

/** Loads `environments.yaml` and `deployment-thresholds.yaml` from `dir` and joins them. */
export function loadConfig(dir: string = DEFAULT_CONFIG_DIR): GuardianConfig {
  const envFile = path.join(dir, 'environments.yaml');
  const thresholdsFile = path.join(dir, 'deployment-thresholds.yaml');
  const problems: string[] = [];
  let envs: z.infer<typeof environmentsFileSchema> | undefined;
  let thresholds: z.infer<typeof thresholdsFileSchema> | undefined;
  try {
    envs = parseFile(envFile, environmentsFileSchema);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  try {
    thresholds = parseFile(thresholdsFile, thresholdsFileSchema);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  if (!envs || !thresholds) throw new ConfigError(problems);
  const environments: Record<string, EnvironmentConfig> = {};
  const stacks: Record<string, StackConfig> = {};
  for (const [name, { alarmTopic, retention, ...env }] of Object.entries(envs.environments)) {
    stacks[name] = { alarmTopic, retention };
    const t = thresholds[name];
    if (!t) {
      problems.push(
        `${thresholdsFile}: ${name}: missing thresholds for environment '${name}' (from ${envFile})`,
      );
      continue;
    }
    environments[name] = { ...env, name, thresholds: t };
  }
  for (const name of Object.keys(thresholds)) {
    if (!envs.environments[name]) {
      problems.push(
        `${thresholdsFile}: ${name}: thresholds for unknown environment '${name}' (not in ${envFile})`,
      );
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { environments, stacks };
}

/** Returns one environment's config, or throws naming the known ones. */
export function environmentOf(config: GuardianConfig, name: string): EnvironmentConfig {
  const env = config.environments[name];
  if (!env) {
    throw new ConfigError([
      `unknown environment '${name}'; known: ${Object.keys(config.environments).join(', ')}`,
    ]);
  }
  return env;
}
