import { describe, expect, it } from 'vitest';
import { allPortSpecs, PORT_NAMES, PORTS } from '../../lambdas/ports/table.ts';
import type { LambdaHandler } from '../../lambdas/shared/lambda.ts';
import { configKeysOf, portsOf } from '../../lambdas/shared/wiring.ts';
import { STEP_IDS, STEPS } from '../../lambdas/steps.ts';
import { bundleDefines } from '../../lib/constructs/step-function.ts';
import { synthesized } from './fixtures.ts';

const staging = () => {
  const env = synthesized().config.environments.staging;
  if (!env) throw new Error('no staging environment');
  return env;
};

describe('handler wiring', () => {
  it.each(STEP_IDS)('serves %s from its handler module, under its own step id', async (step) => {
    const mod = (await import(`../../lambdas/${step}/handler.ts`)) as {
      handler: LambdaHandler<unknown>;
      step: { name: string };
    };
    expect(typeof mod.handler).toBe('function');
    expect(mod.handler.step).toBe(step);
    expect(mod.step.name).toBe(step);
  });

  it.each(STEP_IDS)('resolves exactly the ports the step table lists for %s', (step) => {
    expect(portsOf(step, staging()).map(([name]) => name)).toEqual([...STEPS[step].ports]);
  });

  it('declares every port in the table with a distinct bundler flag', () => {
    const flags = allPortSpecs().map((s) => s.flag);
    expect(new Set(flags).size).toBe(flags.length);
    for (const flag of flags) expect(flag).toMatch(/^GUARDIAN_PORT_[A-Z_]+$/);
    expect(PORT_NAMES.sort()).toEqual(Object.keys(PORTS).sort());
  });

  it('uses only ports the table declares', () => {
    for (const step of STEP_IDS) for (const port of STEPS[step].ports) expect(PORT_NAMES).toContain(port);
  });

  it.each(STEP_IDS)('turns on exactly the flags of the ports of %s in its bundle', (step) => {
    const defines = bundleDefines(step, staging());
    const on = allPortSpecs()
      .filter((spec) => defines[`process.env.${spec.flag}`] === JSON.stringify('on'))
      .map((spec) => spec.flag);
    expect(on.sort()).toEqual(
      portsOf(step, staging())
        .map(([, spec]) => spec.flag)
        .sort(),
    );
    for (const spec of allPortSpecs()) expect(defines).toHaveProperty(`process.env.${spec.flag}`);
  });

  it('bakes the config slice into the bundle as a JSON string literal', () => {
    const defines = bundleDefines('health-check', staging());
    const literal = defines['process.env.GUARDIAN_ENV_CONFIG'];
    expect(literal).toBeDefined();
    const slice = JSON.parse(JSON.parse(literal as string));
    expect(Object.keys(slice).sort()).toEqual(
      // A key the environment leaves out (argo, on a Deployment) is not in the JSON.
      configKeysOf('health-check', staging()).filter(
        (k) => (staging() as Record<string, unknown>)[k] !== undefined,
      ),
    );
  });
});
