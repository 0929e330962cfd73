import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { processAlive, processStartTime } from '../../lib/local/state-files.ts';

describe('processAlive', () => {
  it('knows this process, with or without its start time', () => {
    const start = processStartTime(process.pid);
    expect(start).toMatch(/^\d+$/);
    expect(processAlive(process.pid)).toBe(true);
    expect(processAlive(process.pid, start)).toBe(true);
  });

  it('does not take a process that reuses the pid for the one recorded', () => {
    // Same pid, another start time: what a reused pid looks like.
    const start = Number(processStartTime(process.pid));
    expect(processAlive(process.pid, String(start + 1))).toBe(false);
  });

  it('reports a process that has exited as gone', async () => {
    const child = spawn(process.execPath, ['-e', '']);
    const pid = child.pid as number;
    const start = processStartTime(pid);
    await new Promise((resolve) => child.on('exit', resolve));
    // Reap it fully: after exit the pid is free (or a zombie no longer holding /proc/<pid>/stat).
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(processAlive(pid, start)).toBe(false);
  });
});
