/**
 * The enhanced health check's config (issue 9): dependencies, pools and startup time per
 * environment, defaults that keep older configs valid, and problems that name the path.
 */
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config/load.ts';
import { problemsOf, configWith as sharedConfigWith } from '../helpers/config.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const configWith = (edit: (yaml: string) => string): string => sharedConfigWith(dirs, edit);

/** The shipped staging `dependencies:` block (through `maxStartupSeconds`), replaced by `block`. */
const STAGING_BLOCK = /( {6}# What \/health reports[\s\S]*? {6}maxStartupSeconds: 120\n)/;
const replaceStagingBlock = (block: string) => (yaml: string) => yaml.replace(STAGING_BLOCK, block);

describe('healthCheck dependencies, pools and startup time', () => {
  it('reads each environment its own pool limits and startup limit from the shipped config', () => {
    const { environments } = loadConfig();
    const staging = environments.staging?.healthCheck;
    const production = environments.production?.healthCheck;
    expect(staging?.dependencies).toEqual({
      endpoint: '/health',
      connectivity: {
        database: { field: 'database', expect: 'connected' },
        redis: { field: 'redis', expect: 'connected' },
        pgbouncer: { field: 'pgbouncer', expect: 'connected' },
      },
      pools: {
        database: { field: 'pool', maxUtilisationPercent: 90, maxWaiting: 5 },
        pgbouncer: { field: 'pgbouncer_pool', maxWaiting: 10, maxWaitSeconds: 1 },
      },
    });
    expect(production?.dependencies?.pools.pgbouncer?.maxWaiting).toBe(5);
    expect(production?.dependencies?.pools.database?.maxUtilisationPercent).toBe(85);
    expect(staging?.maxStartupSeconds).toBe(120);
  });

  it('keeps a config without the new keys valid: no dependency checks, startup limit 120 s', () => {
    const dir = configWith(replaceStagingBlock(''));
    const staging = loadConfig(dir).environments.staging?.healthCheck;
    expect(staging?.dependencies).toBeUndefined();
    expect(staging?.maxStartupSeconds).toBe(120);
  });

  it("fills an empty dependencies block with the runbook's database, Redis and PgBouncer, no pools", () => {
    const dir = configWith(replaceStagingBlock('      dependencies: {}\n'));
    expect(loadConfig(dir).environments.staging?.healthCheck.dependencies).toEqual({
      endpoint: '/health',
      connectivity: {
        database: { field: 'database', expect: 'connected' },
        redis: { field: 'redis', expect: 'connected' },
        pgbouncer: { field: 'pgbouncer', expect: 'connected' },
      },
      pools: {},
    });
  });

  it('fills pool thresholds it is not given', () => {
    const dir = configWith(
      replaceStagingBlock(
        '      dependencies:\n        pools:\n          database: {}\n          pgbouncer: {}\n',
      ),
    );
    expect(loadConfig(dir).environments.staging?.healthCheck.dependencies?.pools).toEqual({
      database: { field: 'pool', maxUtilisationPercent: 90, maxWaiting: 0 },
      pgbouncer: { field: 'pgbouncer_pool', maxWaiting: 5, maxWaitSeconds: 1 },
    });
  });

  it.each([
    [
      'a dependencies endpoint that is not called',
      '      dependencies: { endpoint: /status }\n',
      /environments\.staging\.healthCheck\.dependencies\.endpoint: \/status is not one of the endpoints \(\/health, \/ready, \/metrics\); add it to endpoints or name one of them$/,
    ],
    [
      'a utilisation limit above 100%',
      '      dependencies:\n        pools:\n          database: { maxUtilisationPercent: 150 }\n',
      /environments\.staging\.healthCheck\.dependencies\.pools\.database\.maxUtilisationPercent: /,
    ],
    [
      'a negative waiting limit',
      '      dependencies:\n        pools:\n          pgbouncer: { maxWaiting: -1 }\n',
      /environments\.staging\.healthCheck\.dependencies\.pools\.pgbouncer\.maxWaiting: /,
    ],
    [
      'a pool the check does not know',
      '      dependencies:\n        pools:\n          redis: { maxWaiting: 1 }\n',
      /environments\.staging\.healthCheck\.dependencies\.pools\.redis: unknown key 'redis'$/,
    ],
    [
      'a field with a space',
      '      dependencies:\n        connectivity:\n          redis: { field: "redis status" }\n',
      /environments\.staging\.healthCheck\.dependencies\.connectivity\.redis\.field: must be a field name or dotted path/,
    ],
    [
      'a startup limit of 0',
      '      maxStartupSeconds: 0\n',
      /environments\.staging\.healthCheck\.maxStartupSeconds: /,
    ],
  ])('refuses %s, naming the path', (_what, block, message) => {
    const problems = problemsOf(configWith(replaceStagingBlock(block)));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
  });
});
