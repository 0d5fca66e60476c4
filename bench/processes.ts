// Child processes of the bench (the API, the workers, the baseline worker), each started from its own entry
// script and stopped with the bench, even when the bench is interrupted.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { searchPath } from '../lib/config.js';
import { stopChild } from '../lib/temporal-server.js';

export interface ChildService {
  child: ChildProcess;
  /** The first match of the ready pattern in the child's output. */
  ready: RegExpMatchArray;
  /** Resident set size of the process now, from /proc (Linux). */
  rssBytes(): number;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();

/** SIGKILLs every child still running: the last resort when the bench exits without stopping them. */
export function killAllChildren(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

/**
 * Runs `node --import tsx <script> ...args` with exactly `env` (plus PATH) and waits until its stdout matches
 * `readyPattern`. The output after that is drained and dropped; stderr passes through.
 */
export async function startChildService(options: {
  script: string;
  args?: string[];
  env: Record<string, string>;
  readyPattern: RegExp;
  timeoutMs?: number;
}): Promise<ChildService> {
  const { script, args = [], env, readyPattern, timeoutMs = 120_000 } = options;
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    env: { PATH: searchPath().join(path.delimiter), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  // Warnings and errors pass through, but a failed bulk query quotes every parameter: at most 2000 characters
  // a line and 50 lines a second, the rest counted.
  let window = { second: 0, lines: 0, dropped: 0 };
  createInterface({ input: child.stderr! }).on('line', (line) => {
    const second = Math.floor(Date.now() / 1000);
    if (second !== window.second) {
      if (window.dropped > 0) process.stderr.write(`[${script}: ${window.dropped} more lines of stderr dropped]\n`);
      window = { second, lines: 0, dropped: 0 };
    }
    if (++window.lines > 50) window.dropped++;
    else process.stderr.write(`${line.length > 2000 ? `${line.slice(0, 2000)} … (${line.length} characters)` : line}\n`);
  });
  const exited = once(child, 'exit');
  void exited.then(() => running.delete(child));
  let output = '';
  try {
    const ready = await new Promise<RegExpMatchArray>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${script} was not ready after ${timeoutMs} ms:\n${output}`)), timeoutMs);
      child.stdout!.on('data', (chunk: Buffer) => {
        if (output.length < 20_000) output += chunk.toString();
        const match = output.match(readyPattern);
        if (match) {
          clearTimeout(timer);
          resolve(match);
        }
      });
      void exited.then(([code, signal]) => {
        clearTimeout(timer);
        reject(new Error(`${script} exited early (${code ?? signal}):\n${output}`));
      });
    });
    return {
      child,
      ready,
      rssBytes: () => rssBytes(child.pid!),
      stop: () => stopChild(child),
    };
  } catch (error) {
    await stopChild(child, 2000);
    throw error;
  }
}

/** VmRSS of a process in bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  if (!kb) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb) * 1024;
}

/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux). */
const ticksPerSecond = 100;

/** CPU time (user + system) a process has used so far, in milliseconds. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The fields after the command name, which may hold spaces: utime and stime are the 14th and 15th of the line.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
}
