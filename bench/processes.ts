// Child processes of the bench (the API, the workers, the baseline worker), each started from its own entry
// script and stopped with the bench, even when the bench is interrupted.
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { spawnService } from '../lib/stack.js';

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
 * Runs `node --import tsx <script> ...args` (lib/stack.ts `spawnService`) and waits until its stdout matches
 * `readyPattern`. The output after that is dropped; stderr passes through.
 */
export async function startChildService(options: {
  script: string;
  args?: string[];
  env: Record<string, string>;
  readyPattern: RegExp;
  timeoutMs?: number;
}): Promise<ChildService> {
  const { script, args, env, readyPattern, timeoutMs } = options;
  const service = spawnService({ entry: script, args, env, readyPattern, readyWithinMs: timeoutMs, stderr: (stream) => passThrough(script, stream) });
  const { child } = service;
  running.add(child);
  void service.exited.then(() => running.delete(child));
  try {
    return { child, ready: await service.ready, rssBytes: () => rssBytes(child.pid!), stop: () => service.stop() };
  } catch (error) {
    await service.stop(2000);
    throw error;
  }
}

/**
 * A child's warnings and errors pass through, but a failed bulk query quotes every parameter: at most 2000
 * characters a line and 50 lines a second, the rest counted.
 */
function passThrough(script: string, stderr: Readable): void {
  let window = { second: 0, lines: 0, dropped: 0 };
  createInterface({ input: stderr }).on('line', (line) => {
    const second = Math.floor(Date.now() / 1000);
    if (second !== window.second) {
      if (window.dropped > 0) process.stderr.write(`[${script}: ${window.dropped} more lines of stderr dropped]\n`);
      window = { second, lines: 0, dropped: 0 };
    }
    if (++window.lines > 50) window.dropped++;
    else process.stderr.write(`${line.length > 2000 ? `${line.slice(0, 2000)} … (${line.length} characters)` : line}\n`);
  });
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

/** The machine's busy and total CPU ticks so far (/proc/stat's first line: idle and iowait are not busy). */
function machineTicks(): { busy: number; total: number } {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).map(Number);
  const total = ticks.reduce((sum, n) => sum + n, 0);
  return { busy: total - ticks[3]! - ticks[4]!, total };
}

/**
 * Waits until the machine is quiet: under `busyShare` of its CPU used over a second (the servers have finished
 * what the previous phase left them, e.g. visibility updates and workflows ending), or `timeoutMs` passed.
 * Answers how long it waited.
 */
export async function untilMachineQuiet(options: { busyShare?: number; timeoutMs?: number } = {}): Promise<number> {
  const { busyShare = 0.1, timeoutMs = 60_000 } = options;
  const start = performance.now();
  for (let before = machineTicks(); performance.now() - start < timeoutMs; ) {
    await sleep(1000);
    const now = machineTicks();
    if ((now.busy - before.busy) / Math.max(1, now.total - before.total) < busyShare) break;
    before = now;
  }
  return performance.now() - start;
}
