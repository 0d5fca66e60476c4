// The README's "Ten-minute tour", run as written: its ```sh blocks between <!-- tour:start --> and <!-- tour:end -->, in
// order, in one `bash -euo pipefail`, against a live API with every worker (as `npm start` runs it). Every curl fails
// on an HTTP error (a .curlrc of the test's own), so a call the API refuses stops the tour; each `# →` line holds
// fragments, split at `…`, that the output of the commands since the previous `# →` group must contain in order.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureFirstAdmin } from '../lib/auth/first-admin.js';
import { searchPath } from '../lib/config.js';
import { startHarness, type Harness } from './support/harness.js';

const readme = readFileSync(path.resolve(import.meta.dirname, '../README.md'), 'utf8');
const tourWithinMs = 150_000;

interface Check {
  /** The README line, for the failure message. */
  line: string;
  fragments: string[];
}

/**
 * The tour's script: the README's ```sh lines of the section, each group of `# →` lines replaced by a line printing a
 * marker, with the checks of each group and, for each script line, the README line it came from.
 */
function tourScript(markdown: string, marker: string): { script: string[]; readmeLines: number[]; groups: Check[][] } {
  const lines = markdown.split('\n');
  const [start, end] = ['<!-- tour:start -->', '<!-- tour:end -->'].map((tag) => lines.findIndex((line) => line.trim() === tag));
  if (start! < 0 || end! < start!) throw new Error('README.md has no <!-- tour:start --> … <!-- tour:end --> section');
  const script: string[] = [];
  const readmeLines: number[] = [];
  const groups: Check[][] = [];
  let inBlock = false;
  let lastWasCheck = false;
  for (let index = start! + 1; index < end!; index++) {
    const line = lines[index]!;
    if (!inBlock || line === '```') {
      inBlock = inBlock ? false : line === '```sh';
      lastWasCheck = false;
      continue;
    }
    const expected = /^# → (.*)$/.exec(line);
    if (expected) {
      const check = { line: `README.md:${index + 1}: ${line}`, fragments: expected[1]!.split('…').map((piece) => piece.trim()).filter(Boolean) };
      // Consecutive `# →` lines are one group: they all describe the output of the commands before them.
      if (lastWasCheck) groups.at(-1)!.push(check);
      else {
        groups.push([check]);
        script.push(`printf '\\n${marker} ${groups.length - 1}\\n'`);
        readmeLines.push(index + 1);
      }
    } else {
      script.push(line);
      readmeLines.push(index + 1);
    }
    lastWasCheck = Boolean(expected);
  }
  return { script, readmeLines, groups };
}

/** Which checks fail: the output since the previous marker must hold each check's fragments, in order. */
function missingOutput(stdout: string, marker: string, groups: Check[][]): string[] {
  const segments = stdout.split(new RegExp(`\\n${marker} \\d+\\n`));
  return groups.flatMap((group, index) =>
    group.flatMap(({ line, fragments }) => {
      const output = segments[index] ?? '';
      let from = 0;
      for (const fragment of fragments) {
        const at = output.indexOf(fragment, from);
        if (at < 0) return [`${line}\n  "${fragment}" is not in the output:\n${output.replace(/^/gm, '  | ')}`];
        from = at + fragment.length;
      }
      return [];
    }),
  );
}

function runBash(scriptPath: string, env: Record<string, string>, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // Its own process group, so a hung tour is stopped with every curl and sleep it started.
    const child = spawn('bash', ['-euo', 'pipefail', scriptPath], { env, cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      stderr += `\n(the tour was stopped after ${tourWithinMs / 1000} s)`;
      process.kill(-child.pid!, 'SIGKILL');
    }, tourWithinMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('the README tour', () => {
  let h: Harness;
  let scratch: string;
  const adminPassword = `tour-${randomBytes(9).toString('base64url')}`;

  beforeAll(async () => {
    // As `npm start`: every worker, today's billing day open, and the first admin from ADMIN_PASSWORD.
    h = await startHarness({ billingSchedule: true });
    expect(await ensureFirstAdmin(h.database.db, { email: 'admin@ates.local', password: adminPassword })).toBe(true);
    scratch = mkdtempSync(path.join(tmpdir(), 'readme-tour-'));
  });
  afterAll(async () => {
    await h?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('every command succeeds and prints what the README shows', { timeout: tourWithinMs + 30_000 }, async () => {
    const marker = `@@tour-check-${randomBytes(6).toString('hex')}@@`;
    const { script, readmeLines, groups } = tourScript(readme, marker);
    expect(groups.length, 'the tour shows no output to check').toBeGreaterThan(10);

    const scriptPath = path.join(scratch, 'tour.sh');
    // Line 1 is the trap: script line n is readmeLines[n - 2].
    writeFileSync(scriptPath, [`trap 'echo "tour: exit $? at script line $LINENO: $BASH_COMMAND" >&2' ERR`, ...script, ''].join('\n'));
    // An HTTP error fails curl (exit 22), and with it the tour; the body of the refusal goes to the output.
    writeFileSync(path.join(scratch, '.curlrc'), '--fail-with-body\n--show-error\n--max-time 90\n');
    const run = await runBash(
      scriptPath,
      { PATH: searchPath().join(path.delimiter), HOME: scratch, CURL_HOME: scratch, LC_ALL: 'C.UTF-8', ATES: h.apiUrl, ADMIN_PASSWORD: adminPassword },
      scratch,
    );
    const stderr = run.stderr.replace(/at script line (\d+)/g, (_, line: string) => `at README.md:${readmeLines[Number(line) - 2] ?? '?'}`);
    const { code, stdout } = run;

    expect(code, `the tour failed (exit ${code}):\n${stderr}\n--- output ---\n${stdout.slice(-4000)}`).toBe(0);
    expect(missingOutput(stdout, marker, groups), 'README output lines the tour did not print').toEqual([]);
  });
});
