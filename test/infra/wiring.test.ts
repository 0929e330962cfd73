import { describe, expect, it } from 'vitest';
import { STEP_IDS } from '../../lambdas/adapters/tables.ts';
import type { LambdaHandler } from '../../lambdas/shared/lambda.ts';
import { STEP_ACCESS } from '../../lib/constructs/step-function.ts';

describe('handler wiring', () => {
  it.each(STEP_IDS)('wires %s with exactly the ports its STEP_ACCESS grants', async (step) => {
    const mod = (await import(`../../lambdas/${step}/handler.ts`)) as { handler: LambdaHandler<unknown> };
    expect(typeof mod.handler).toBe('function');
    expect(mod.handler.ports).toEqual({
      store: STEP_ACCESS[step].tables,
      cluster: STEP_ACCESS[step].cluster,
    });
  });
});
