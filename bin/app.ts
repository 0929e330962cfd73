/** CDK app entry point (`cdk.json`): load the config once, build the stacks, synthesize. */
import { buildApp } from '../lib/app.ts';
import { ConfigError, loadConfig } from '../lib/config/load.ts';

try {
  // GUARDIAN_CONFIG_DIR lets CI synthesize against another config folder; default: ./config.
  const { app } = buildApp({ config: loadConfig(process.env.GUARDIAN_CONFIG_DIR || undefined) });
  app.synth();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(`Cannot synthesize the guardian: ${err.problems.length} configuration problem(s):`);
  for (const problem of err.problems) console.error(`  ${problem}`);
  process.exit(2);
}
