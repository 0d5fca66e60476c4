// The log as a collector reads it (JSON lines with fields; warnings and errors on stderr) and as a person reads it.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** Logs one entry of each level in a child process, as the product would; answers what it wrote where. */
function logIn(format: string, level = 'debug') {
  const script = `
    import { createLogger } from './lib/logger.ts';
    const log = createLogger(${JSON.stringify(level)}, 'api', ${JSON.stringify(format)});
    log.debug('starting', { port: 3000 });
    log.info('issue stepped', { issueId: 'i-1', workflowId: 'issue-i-1' });
    log.warn('slow step', { issueId: 'i-1' });
    log.error('step failed', new Error('disk full'), { issueId: 'i-1' });`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  expect(child.status, child.stderr).toBe(0);
  return { stdout: child.stdout.trim().split('\n').filter(Boolean), stderr: child.stderr.trim().split('\n').filter(Boolean) };
}

describe('the JSON log', () => {
  it('writes one object per line with its fields, info below warnings on stdout, warnings and errors on stderr only', () => {
    const { stdout, stderr } = logIn('json');
    const out = stdout.map((line) => JSON.parse(line));
    const err = stderr.map((line) => JSON.parse(line));
    expect(out.map((entry) => [entry.level, entry.msg])).toEqual([
      [20, 'starting'],
      [30, 'issue stepped'],
    ]);
    expect(out[1]).toMatchObject({ name: 'api', issueId: 'i-1', workflowId: 'issue-i-1' });
    expect(typeof out[1].time).toBe('string');
    expect(err.map((entry) => [entry.level, entry.msg, entry.issueId])).toEqual([
      [40, 'slow step', 'i-1'],
      [50, 'step failed', 'i-1'],
    ]);
    expect(err[1].err).toMatchObject({ type: 'Error', message: 'disk full' });
  });

  it('leaves out what is below its level', () => {
    expect(logIn('json', 'warn').stdout).toEqual([]);
  });
});

describe('the readable log', () => {
  it('writes one line per entry with its fields', () => {
    const { stdout, stderr } = logIn('pretty', 'info');
    expect(stdout).toHaveLength(1);
    expect(stdout[0]).toMatch(/^\S+Z INFO {2}\[api\] issue stepped issueId=i-1 workflowId=issue-i-1$/);
    expect(stderr[0]).toMatch(/WARN {2}\[api\] slow step issueId=i-1$/);
    expect(stderr[1]).toMatch(/ERROR \[api\] step failed: Error: disk full/);
  });

  it('is not what auto writes to a pipe: that is JSON', () => {
    expect(() => JSON.parse(logIn('auto').stdout[0]!)).not.toThrow();
  });
});
