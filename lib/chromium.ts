// Headless Chromium, as scripts/diagram-screenshots.ts and test/api-reference.test.ts drive it: one process per page,
// each with a profile of its own. Chromium comes from the system (`apt-get install chromium`) or an unpacked copy
// in .tools/chromium.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
export const chromiumCandidates = ['chromium', 'chromium-browser', 'google-chrome', join(root, '.tools/chromium/usr/bin/chromium')];

/** The first Chromium that answers `--version`, or undefined. */
export function findChromium(): string | undefined {
  return chromiumCandidates.find((command) => spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0);
}

/** The file a command found on PATH runs (puppeteer launches a file, not a command name). */
function executablePath(command: string): string {
  if (isAbsolute(command)) return command;
  return spawnSync('sh', ['-c', 'command -v "$0"', command], { encoding: 'utf8' }).stdout.trim() || command;
}

/**
 * Flags that leave Chromium only loopback: every host name but 127.0.0.1 fails to resolve, and every connection not to
 * loopback goes to a proxy that is not there (127.0.0.1:9; loopback bypasses a proxy by default), with no fallback to
 * a direct connection. A page that needs anything from another host does without it. `hosts` maps a loopback
 * `host:port` to another (`{'localhost:3000': '127.0.0.1:41234'}`), so a page can be shown at a fixed address.
 */
export function offlineFlags(hosts: Record<string, string> = {}): string[] {
  const maps = Object.entries(hosts).map(([from, to]) => `MAP ${from} ${to}`);
  return [
    `--host-resolver-rules=${[...maps, 'MAP * ~NOTFOUND', 'EXCLUDE 127.0.0.1'].join(', ')}`,
    '--proxy-server=127.0.0.1:9',
    '--disable-background-networking',
  ];
}

/** How puppeteer launches `command`: headless, offline but for loopback (`offlineFlags`), from the file it runs. */
export const puppeteerLaunchOptions = (command: string) => ({ executablePath: executablePath(command), headless: true, args: ['--no-sandbox', '--disable-gpu', ...offlineFlags()] });

export interface ChromiumRun {
  stdout: string;
  stderr: string;
}

/**
 * Runs headless Chromium with `args` (URL last) and a fresh profile. Asynchronous, so a server in this same process
 * keeps answering the page. Rejects when Chromium exits non-zero or outlives `timeoutMs`.
 */
export async function runChromium(chromium: string, args: string[], { timeoutMs = 60_000 } = {}): Promise<ChromiumRun> {
  // A profile of its own: runs at the same time (other tests, a desktop browser) never share a profile lock. No
  // sandbox: Chromium refuses to start one as root (CI), and it only opens pages of our own.
  const profile = mkdtempSync(join(tmpdir(), 'chromium-'));
  try {
    return await new Promise<ChromiumRun>((done, fail) => {
      execFile(
        chromium,
        ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--no-first-run', `--user-data-dir=${profile}`, ...args],
        { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
        (error, stdout, stderr) => (error ? fail(new Error(`${chromium} failed: ${error.message}\n${stderr}`)) : done({ stdout, stderr })),
      );
    });
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}
