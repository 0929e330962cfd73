/** The real-format CloudWatch alarm events in test/fixtures/alarm-events, read fresh for each use. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/alarm-events');

/** A fixture event as a fresh object (tests may edit it). */
export function alarmFixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8')) as Record<string, unknown>;
}
