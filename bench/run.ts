// `npm run bench [-- --quick] [--case name ...] [--database-url URL] [--temporal-address host:port | --cluster]`
// Runs every case against its own aTES deployment, prints one table and writes the same numbers as JSON.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createLogger } from '../lib/logger.js';
import { taskLifecycleCase } from './cases/task-lifecycle.js';
import { analyticsCase } from './cases/analytics.js';
import { dayCloseCase } from './cases/day-close.js';
import { lifecycleCostCase } from './cases/lifecycle-cost.js';
import { shuffleCase } from './cases/shuffle.js';
import { workerRssCase } from './cases/worker-rss.js';
import { startBenchEnv, type BenchEnv } from './env.js';
import { since, type BenchCase, type CaseContext, type CaseResult, type Shared } from './measure.js';
import { killAllChildren } from './processes.js';
import { machine, renderTable, writeReport, type BenchReport } from './report.js';
import { stopRunningStacks } from './stack.js';

// The worker RSS case runs before the shuffle: both start from the same open tasks, and RSS is read before any shuffle.
const cases: BenchCase[] = [taskLifecycleCase, lifecycleCostCase, workerRssCase, shuffleCase, analyticsCase, dayCloseCase];

const usage = `usage: npm run bench -- [--quick] [--case <name>]... [--database-url postgres://...] [--temporal-address host:port | --cluster] [--results <dir>]
  --quick             every case at small sizes (CI)
  --case              run only these cases: ${cases.map((c) => `"${c.name}"`).join(', ')}
  --database-url      a PostgreSQL server to use (the bench creates and drops its own databases there)
  --temporal-address  a Temporal server to use (the bench registers its own namespaces there)
  --cluster           run a Temporal server of four processes on the bench's PostgreSQL (as npm run cluster), not the dev server
  --results           folder for the JSON results (default bench/results)`;

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    case: { type: 'string', multiple: true },
    'database-url': { type: 'string' },
    'temporal-address': { type: 'string' },
    cluster: { type: 'boolean', default: false },
    results: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const unknown = (values.case ?? []).filter((name) => !cases.some((c) => c.name === name));
if (unknown.length > 0) {
  console.error(`unknown case ${unknown.join(', ')}\n${usage}`);
  process.exit(2);
}
const selected = values.case ? cases.filter((c) => values.case!.includes(c.name)) : cases;
const resultsDir = values.results ?? path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
const log = createLogger('info', 'bench');

let env: BenchEnv | undefined;
const shared = new Map<string, Promise<Shared<unknown>>>();
let stopping = false;
let cleaning: Promise<void> | undefined;
/** Stops everything the run started, once: the signal handler and the end of the run may both ask. */
const cleanUp = () => {
  stopping = true;
  cleaning ??= (async () => {
    for (const made of shared.values()) await made.then((s) => s.stop()).catch(() => {});
    await stopRunningStacks();
    killAllChildren();
    await env?.stop();
  })();
  return cleaning;
};
process.on('exit', killAllChildren);
// Interrupted mid-case, the case's own calls fail as their servers go away: that is the stop, not a new error.
process.on('uncaughtException', (error) => {
  if (stopping) return;
  console.error(error);
  process.exit(1);
});
process.on('unhandledRejection', (error) => {
  if (stopping) return;
  throw error;
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    log.warn(`${signal}: stopping the bench`);
    void cleanUp().finally(() => {
      log.warn('stopped');
      process.exit(130);
    });
  });
}

const temporal = values['temporal-address'] ? `external (${values['temporal-address']})` : values.cluster ? 'cluster' : 'dev server';
const report: BenchReport = { startedAt: new Date().toISOString(), quick: values.quick, temporal, machine: machine(), seconds: 0, cases: [] };
const started = performance.now();
try {
  env = await startBenchEnv({ databaseUrl: values['database-url'], temporalAddress: values['temporal-address'], cluster: values.cluster, log });
  const context: CaseContext = {
    env,
    quick: values.quick,
    log,
    async shared<T>(key: string, create: () => Promise<Shared<T>>) {
      if (!shared.has(key)) shared.set(key, create());
      return ((await shared.get(key)!) as Shared<T>).value;
    },
    async release(key) {
      const made = shared.get(key);
      shared.delete(key);
      await made?.then((s) => s.stop()).catch(() => {});
    },
  };
  for (const benchCase of selected) {
    if (stopping) break;
    const result: CaseResult = { name: benchCase.name, sizes: {}, figures: [], notes: [], seconds: 0 };
    report.cases.push(result);
    const caseStart = performance.now();
    log.info(`case "${benchCase.name}"`);
    try {
      await benchCase.run(context, result);
    } catch (error) {
      result.error = error instanceof Error ? (error.stack ?? error.message) : String(error);
      log.error(`case "${benchCase.name}" failed`, error);
    }
    result.seconds = since(caseStart) / 1000;
    log.info(`case "${benchCase.name}" took ${result.seconds.toFixed(1)} s`);
  }
} catch (error) {
  log.error('the bench could not start', error);
  report.cases.push({ name: 'set-up', sizes: {}, figures: [], notes: [], seconds: 0, error: String(error) });
} finally {
  await cleanUp();
}
report.seconds = since(started) / 1000;
console.log(`\n${renderTable(report)}\n`);
console.log(`results: ${writeReport(report, resultsDir)}`);
process.exit(report.cases.some((result) => result.error) ? 1 : 0);
