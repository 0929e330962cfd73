/** Entry of the local state service process (see state-service.ts); started by the first local command. */
import path from 'node:path';
import { runStateService } from './state-service.ts';

const stateDir = process.argv[2];
if (!stateDir) {
  process.stderr.write('guardian-state-service: usage: state-service-main <state-dir>\n');
  process.exit(2);
}
await runStateService(path.resolve(stateDir));
