// What every case shares: its result shape, timing, percentiles, and running work at a fixed concurrency.
import type { Logger } from '../lib/logger.js';
import type { BenchEnv } from './env.js';

/** One measured figure with its baseline from the same run. */
export interface Figure {
  figure: string;
  unit: string;
  value: number;
  baseline: number;
  /** What the baseline is, e.g. "bare workflow" or "raw SQL". */
  baselineLabel: string;
  /** value / baseline. */
  ratio: number;
  /** value − baseline, for latencies and times. */
  difference?: number;
  /** A second baseline of the same run, shown beside the first (no ratio: the ratio is against `baseline`). */
  otherBaseline?: number;
  otherBaselineLabel?: string;
}

export interface CaseResult {
  name: string;
  /** The sizes this run used (printed, so a quick run is never mistaken for a full one). */
  sizes: Record<string, number | string>;
  figures: Figure[];
  notes: string[];
  seconds: number;
  error?: string;
}

export interface CaseContext {
  env: BenchEnv;
  quick: boolean;
  log: Logger;
  /**
   * A set-up several cases start from (e.g. 10 000 open tasks), made by the first case that asks for it and
   * stopped when the run ends.
   */
  shared<T>(key: string, create: () => Promise<Shared<T>>): Promise<T>;
  /** Stops a shared set-up now: its last user is done with it, and the cases after it should not share the machine with it. */
  release(key: string): Promise<void>;
}

export interface Shared<T> {
  value: T;
  stop(): Promise<void>;
}

export interface BenchCase {
  name: string;
  run(context: CaseContext, result: CaseResult): Promise<void>;
}

export function figure(
  name: string,
  unit: string,
  value: number,
  baseline: number,
  baselineLabel: string,
  options: { difference?: boolean; other?: { value: number; label: string } } = {},
): Figure {
  return {
    figure: name,
    unit,
    value,
    baseline,
    baselineLabel,
    ratio: baseline === 0 ? Number.NaN : value / baseline,
    ...(options.difference ? { difference: value - baseline } : {}),
    ...(options.other ? { otherBaseline: options.other.value, otherBaselineLabel: options.other.label } : {}),
  };
}

/** Nearest-rank percentile of samples (any order). */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) throw new Error('no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Runs work(0..count-1) with at most `concurrency` in flight; the first failure stops the rest and is thrown. */
export async function inLanes(count: number, concurrency: number, work: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (!failed && next < count) {
      const index = next++;
      try {
        await work(index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
}

/** Milliseconds since `start` (a performance.now() reading). */
export const since = (start: number) => performance.now() - start;

/** Times one call in milliseconds into `samples`. */
export async function timed<T>(samples: number[], call: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const result = await call();
  samples.push(since(start));
  return result;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it answers something other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
  interval: number | ((elapsedMs: number) => number) = 200,
): Promise<T> {
  const start = Date.now();
  for (;;) {
    const answer = await check();
    if (answer !== undefined) return answer;
    const elapsed = Date.now() - start;
    if (elapsed > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(typeof interval === 'number' ? interval : interval(elapsed));
  }
}

/** Polls often at first and then every 2 % of the time so far: a fine reading that does not load what it watches. */
export const proportionalPolling = (elapsedMs: number) => Math.min(5000, Math.max(100, elapsedMs / 50));

/** Rejects naming `what` when `promise` has not settled within `ms`: a hung call fails its case instead of the run. */
export function within<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
