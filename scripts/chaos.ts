// `npm run chaos`: thousands of task lifecycles, inventories walked to the end, a shuffle and a manual day close,
// while the worker process is SIGKILLed every few seconds and the Temporal dev server and PostgreSQL are each
// restarted once. While the load runs, a sampler reads the read model and the ledger in one snapshot every few
// hundred milliseconds: no issue may ever be visible in a state whose ledger entries are missing (or doubled).
// Then it checks what must hold however often things crashed: every issue at its end state, one fee
// per assignment and one reward per completion, one payout per positive account and day, a ledger that adds up,
// no domain event twice. Exits non-zero on any violation. `--short` is the CI size. `--cluster` runs the same load
// on the production shape of `npm run cluster` (a Temporal server of four processes on PostgreSQL, two API
// processes the load alternates between): instead of restarting a dev server it SIGKILLs and restarts the history
// service, then the matching service, then one API process.
import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream, rmSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { openDatabase, type Database } from '../db/client.js';
import { currentBillingDay } from '../lib/billing/ledger.js';
import type { Role } from '../db/schema/auth.js';
import { createUser } from '../lib/auth/users.js';
import { loadConfig } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';
import { freePort } from '../lib/ports.js';
import { startProcess, type AtesProcess } from '../lib/process.js';
import {
  migrateWithBuiltinTypes,
  scratchFolder,
  SupervisedService,
  startLocalTemporalCluster,
  startPostgres,
  startTemporalDevServer,
  writeWorkflowBundle,
} from '../lib/stack.js';
import type { TemporalService } from '../lib/temporal-cluster.js';

// ---------------------------------------------------------------------------------------------------------------
// Run size

const { values: flags } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    lifecycles: { type: 'string' },
    inventories: { type: 'string' },
    concurrency: { type: 'string' },
    keep: { type: 'boolean', default: false },
    cluster: { type: 'boolean', default: false },
  },
  strict: true,
});
const count = (value: string | undefined, fallback: number, name: string) => {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${value}`);
  return n;
};
// Concurrency 12: with more in flight, each kill strands more workflow tasks and activities (each waits out its
// timeout: 10 s for a workflow task, 30 s for an effect) and throughput drops instead of rising.
const size = {
  lifecycles: count(flags.lifecycles, flags.short ? 200 : 3000, 'lifecycles'),
  inventories: count(flags.inventories, flags.short ? 5 : 50, 'inventories'),
  concurrency: count(flags.concurrency, 12, 'concurrency'),
};
/** Tasks created early and completed only after the shuffle: each must have been reassigned exactly once. */
const parked = Math.max(5, Math.round(size.lifecycles * 0.05));
const people = { worker: 12, reviewer: 3, manager: 2, client: 2, accountant: 1 } satisfies Partial<Record<Role, number>>;
type Milestone = 'temporalRestart' | 'historyKill' | 'matchingKill' | 'shuffle' | 'dayClose' | 'apiKill' | 'postgresRestart';
/** Milestones, as the share of lifecycles finished. */
const milestonesAt: Partial<Record<Milestone, number>> = flags.cluster
  ? { historyKill: 0.2, matchingKill: 0.3, shuffle: 0.4, dayClose: 0.5, apiKill: 0.6, postgresRestart: 0.7 }
  : { temporalRestart: 0.2, shuffle: 0.4, dayClose: 0.5, postgresRestart: 0.7 };
/** API processes of a cluster run (the dev server run serves the API from this process). */
const clusterApis = 2;
const killEveryMs = { min: 2000, max: 6000 };
const serverDownMs = 1500;
/** A request failing transiently for longer than this is a violation. */
const giveUpAfterMs = 5 * 60_000;
const requestTimeoutMs = 120_000;
const settleWithinMs = 5 * 60_000;
/**
 * A shuffle batch lost with a killed worker is retried only after its 30 s heartbeat timeout, from the start of the
 * batch: under these kills a shuffle of ~150 tasks took 5.5 minutes (attempt 10 of its batch went through).
 */
const shuffleWithinMs = 15 * 60_000;
const workerReadyWithinMs = 60_000;

// ---------------------------------------------------------------------------------------------------------------
// Bookkeeping

const startedAt = Date.now();
const elapsed = () => `${((Date.now() - startedAt) / 1000).toFixed(1).padStart(6)} s`;
const say = (message: string) => console.log(`[${elapsed()}] ${message}`);
const between = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1));

const violations: string[] = [];
const violate = (message: string) => {
  violations.push(message);
  if (violations.length <= 20) say(`VIOLATION: ${message}`);
};
/** Ends one lifecycle with a violation; the rest of the run goes on. */
class Violation extends Error {}

const stats = {
  /** Requests sent again after a transient failure, by what it was. */
  retries: new Map<string, number>(),
  /** A retried event answered 409 because its first attempt had landed (the issue's state says so). */
  landedBeforeRetry: 0,
  /** A completion refused (403, or 404 once its former assignee may not see it) because the shuffle had moved the task to another worker meanwhile. */
  movedByShuffle: 0,
  /** A 409 on an event whose issue was not there yet (e.g. close before the start was heard): sent again. */
  notYet: 0,
  lifecycleMs: [] as number[],
  inventoryMs: [] as number[],
  phases: [] as [string, number][],
  temporalDownMs: 0,
  /** Of a cluster run: SIGKILL to listening again (the API: ready), per process killed. */
  crashes: [] as [string, number][],
  postgresDownMs: 0,
  dayCloseMs: 0,
  shuffle: undefined as undefined | { id: string; seen: number; reassigned: number; skipped: number; ms: number },
  /** The ledger sampler's totals, once the load is over (see `startLedgerSampler`). */
  ledgerSampler: undefined as undefined | ReturnType<typeof startLedgerSampler>['totals'],
};
const retried = (reason: string) => stats.retries.set(reason, (stats.retries.get(reason) ?? 0) + 1);

/** A logger into a file: the API's complaints while a server restarts are expected and would drown the report. */
function fileLogger(stream: WriteStream, name: string): Logger {
  const write = (level: string, message: string) => {
    if (!stream.writableEnded) stream.write(`${new Date().toISOString()} ${level.padEnd(5)} [${name}] ${message}\n`);
  };
  return {
    debug: () => {},
    info: (m) => write('INFO', m),
    warn: (m) => write('WARN', m),
    error: (m, e) => write('ERROR', e ? `${m}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}` : m),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The stack: PostgreSQL and Temporal that can be restarted in place, the API in this process, the workers in a child

interface Stack {
  scratch: string;
  databaseUrl: string;
  temporalAddress: string;
  database: Database;
  services: AtesProcess;
  /** The load spreads its requests over these. */
  apiUrls: string[];
  workers: SupervisedService;
  /** Dev server: stops and starts it. Cluster: SIGKILLs one of its services and starts it again. Answers the time it took. */
  restartTemporal(service?: TemporalService): Promise<number>;
  /** Cluster: SIGKILLs the first API process, answers the time until its supervisor has it serving again. */
  crashApi(): Promise<number>;
  restartPostgres(): Promise<number>;
  stop(): Promise<void>;
}

async function startStack(scratch: string): Promise<Stack> {
  const apiLog = createWriteStream(path.join(scratch, 'api.log'));
  const log = fileLogger(apiLog, 'api');
  const stops: (() => Promise<void>)[] = [];
  try {
    // Persistent data on fixed ports: a restart finds every row and every workflow where it left them.
    const postgres = await startPostgres({ dataDir: path.join(scratch, 'pg'), database: 'ates', persistent: true, log });
    stops.push(() => postgres.stop());
    const migrated = migrateWithBuiltinTypes(postgres.url);
    let temporal: { address: string; stop(): Promise<void> };
    let restartTemporal: Stack['restartTemporal'];
    if (flags.cluster) {
      const [cluster] = await Promise.all([startLocalTemporalCluster({ postgresUrl: postgres.url, logDir: path.join(scratch, 'temporal'), log }), migrated]);
      temporal = cluster;
      restartTemporal = (service = 'history') =>
        timed(async () => {
          await cluster.kill(service);
          await sleep(serverDownMs);
          await cluster.restart(service);
        });
    } else {
      const [devServer] = await Promise.all([startTemporalDevServer({ who: 'the chaos run', dbFile: path.join(scratch, 'temporal.db'), log }), migrated]);
      temporal = devServer;
      restartTemporal = () => timed(() => devServer.restart(serverDownMs));
    }
    stops.push(() => temporal.stop());
    const bundlePath = await writeWorkflowBundle(path.join(scratch, 'workflow-bundle.js'));

    const env = {
      DATABASE_URL: postgres.url,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: 'default',
      JWT_SECRET: randomBytes(32).toString('hex'),
      DATA_DIR: scratch,
    };
    const config = loadConfig({ ...env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn' });
    // On the cluster the API runs as separate processes; this process keeps its clients for the checks.
    const services = await startProcess({
      config,
      databaseUrl: postgres.url,
      temporalAddress: temporal.address,
      jwtSecret: env.JWT_SECRET,
      log,
      api: !flags.cluster,
      workerContexts: [],
    });
    stops.push(() => services.stop());
    const database = openDatabase(postgres.url, { max: 4 });
    stops.push(() => database.close());
    // Info: the worker and API processes say they are ready at that level.
    const workers = new SupervisedService({
      name: 'worker',
      entry: 'workers/main.ts',
      env: { ...env, LOG_LEVEL: 'info', WORKFLOW_BUNDLE_PATH: bundlePath },
      readyPattern: /workers of .* running/,
      readyWithinMs: workerReadyWithinMs,
      logFile: path.join(scratch, 'worker.log'),
    });
    stops.push(() => workers.stop());
    await workers.keepRunning();
    const apis: SupervisedService[] = [];
    const apiUrls = services.apiUrl ? [services.apiUrl] : [];
    if (flags.cluster) {
      for (let n = 1; n <= clusterApis; n++) {
        // A fixed port: the API started again after a kill answers where the load sends its requests.
        const port = await freePort();
        const api = new SupervisedService({
          name: `api ${n}`,
          entry: 'api/main.ts',
          env: { ...env, LOG_LEVEL: 'info', HOST: '127.0.0.1', PORT: String(port) },
          readyPattern: /API on http/,
          readyWithinMs: workerReadyWithinMs,
          logFile: path.join(scratch, `api-${n}.log`),
        });
        stops.push(() => api.stop());
        await api.keepRunning();
        apis.push(api);
        apiUrls.push(`http://127.0.0.1:${port}`);
      }
    }

    return {
      scratch,
      databaseUrl: postgres.url,
      temporalAddress: temporal.address,
      database,
      services,
      apiUrls,
      workers,
      restartTemporal: (service) => restartTemporal(service),
      async crashApi() {
        if (!apis[0]) throw new Error('no API process to kill: the API runs in this process');
        return apis[0].crash();
      },
      restartPostgres: () => timed(() => postgres.restart(serverDownMs)),
      async stop() {
        for (const stop of stops.splice(0).reverse()) await stop().catch((error: unknown) => say(`stopping: ${String(error)}`));
        apiLog.end();
      },
    };
  } catch (error) {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    apiLog.end();
    throw error;
  }
}

/** How long `action` took, in milliseconds. */
async function timed(action: () => Promise<void>): Promise<number> {
  const began = Date.now();
  await action();
  return Date.now() - began;
}

/** SIGKILLs the process 2–6 s after each time it became ready, until stopped. */
function keepCrashing(service: SupervisedService): { stop(): Promise<void> } {
  let stopped!: () => void;
  const stopping = new Promise<void>((resolve) => (stopped = resolve));
  let on = true;
  const loop = (async () => {
    while (on) {
      await Promise.race([sleep(between(killEveryMs.min, killEveryMs.max)), stopping]);
      if (on) await service.crash();
    }
  })();
  return {
    async stop() {
      on = false;
      stopped();
      await loop;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP: every call is retried while the answer is transient (5xx, no connection, no answer in time)

/** A JSON body as the API answers it (a problem, an issue, an inventory, ...). */
type Json = Record<string, unknown>;

interface Answer<T = Json> {
  status: number;
  body: T;
  headers: Headers;
  /** The request was sent more than once: a refusal may be the echo of a first attempt that landed. */
  retried: boolean;
}

interface User {
  id: string;
  role: Role;
  token: string;
}

/** Each attempt goes to the next API of `apiUrls`: one that is down costs a retry, not the request. */
function apiClient(apiUrls: string[]) {
  let sent = 0;
  async function call<T = Json>(
    method: string,
    path: string,
    options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<Answer<T>> {
    const began = Date.now();
    for (let attempt = 1; ; attempt++) {
      let reason: string;
      let waitMs = Math.min(250 * 2 ** (attempt - 1), 3000);
      try {
        const apiUrl = apiUrls[sent++ % apiUrls.length]!;
        const response = await fetch(`${apiUrl}${path}`, {
          method,
          signal: AbortSignal.timeout(requestTimeoutMs),
          headers: {
            ...(options.body === undefined ? {} : { 'Content-Type': 'application/json' }),
            ...(options.token ? { Authorization: `Bearer ${options.token}` } : {}),
            ...options.headers,
          },
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
        });
        const text = await response.text();
        if (response.status < 500) {
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON: keep the text
          }
          return { status: response.status, body: body as T, headers: response.headers, retried: attempt > 1 };
        }
        const retryAfter = Number(response.headers.get('retry-after'));
        reason = response.status === 503 && !(retryAfter > 0) ? 'HTTP 503 without Retry-After' : `HTTP ${response.status}`;
        if (retryAfter > 0) waitMs = Math.min(retryAfter * 1000, 5000);
      } catch (error) {
        reason = error instanceof DOMException && error.name === 'TimeoutError' ? 'no answer in time' : 'connection failed';
      }
      retried(reason);
      if (Date.now() - began > giveUpAfterMs) throw new Violation(`${method} ${path}: still ${reason} after ${attempt} attempts in ${Math.round((Date.now() - began) / 1000)} s`);
      await sleep(waitMs);
    }
  }

  /** A call whose answer must have the given status. */
  async function expect<T = Json>(status: number, method: string, path: string, options?: Parameters<typeof call>[2]): Promise<Answer<T>> {
    const answer = await call<T>(method, path, options);
    if (answer.status !== status) throw new Violation(`${method} ${path}: expected ${status}, got ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer;
  }

  return { call, expect };
}
type Api = ReturnType<typeof apiClient>;

interface Issue {
  id: string;
  type: string;
  state: string;
  status: 'active' | 'done';
  assigneeId: string | null;
  context: Json;
}

// ---------------------------------------------------------------------------------------------------------------
// The load

interface Cast {
  byId: Map<string, User>;
  of(role: Role): User[];
}

async function createCast(database: Database, api: Api): Promise<Cast> {
  const byId = new Map<string, User>();
  for (const [role, n] of Object.entries(people) as [Role, number][]) {
    for (let i = 0; i < n; i++) {
      const email = `chaos-${role}-${i}-${randomUUID().slice(0, 6)}@chaos.local`;
      const password = randomBytes(12).toString('hex');
      const user = await createUser(database.db, { name: `Chaos ${role} ${i}`, email, role, password });
      const login = await api.expect<{ token: string }>(200, 'POST', '/auth/login', { body: { email, password } });
      byId.set(user.id, { id: user.id, role, token: login.body.token });
    }
  }
  return { byId, of: (role) => [...byId.values()].filter((u) => u.role === role) };
}

const pick = <T>(list: T[]): T => list[Math.floor(Math.random() * list.length)]!;

function createLoad(api: Api, cast: Cast) {
  const manager = () => pick(cast.of('manager'));
  const read = async (issueId: string) => (await api.expect<Issue>(200, 'GET', `/issues/${issueId}`, { token: manager().token })).body;
  const assignee = (issue: Issue, role: Role) => {
    const user = issue.assigneeId ? cast.byId.get(issue.assigneeId) : undefined;
    if (!user || user.role !== role) throw new Violation(`issue ${issue.id} (${issue.state}) is assigned to ${issue.assigneeId}, not one of the run's ${role}s`);
    return user;
  };

  /** POST /tasks with an Idempotency-Key: a retry gets the same task. */
  async function createTask(n: number): Promise<Issue> {
    const created = await api.expect<Issue>(201, 'POST', '/tasks', {
      token: manager().token,
      headers: { 'Idempotency-Key': randomUUID() },
      body: { title: `Chaos task ${n}`, description: 'created by npm run chaos', jiraId: `CHAOS-${n}` },
    });
    if (created.body.state !== 'open') throw new Violation(`task ${created.body.id} answered in state ${created.body.state}, not open`);
    return created.body;
  }

  /** Completes the task as whoever holds it now: the shuffle may move it between our read and our request. */
  async function completeTask(task: Issue): Promise<void> {
    let current = task;
    for (let round = 1; round <= 100; round++) {
      const done = await api.call<Issue>('POST', `/tasks/${task.id}/complete`, { token: assignee(current, 'worker').token });
      if (done.status === 200) {
        if (done.body.state !== 'done' || done.body.status !== 'done') throw new Violation(`task ${task.id} completed into ${done.body.state}/${done.body.status}`);
        return;
      }
      if (done.status !== 403 && done.status !== 404 && done.status !== 409) throw new Violation(`POST /tasks/${task.id}/complete: ${done.status} ${JSON.stringify(done.body)}`);
      current = await read(task.id);
      if (current.status === 'done') {
        if (done.status === 409 && done.retried) {
          stats.landedBeforeRetry++;
          return;
        }
        throw new Violation(`task ${task.id} is done though its completion answered ${done.status} on the first attempt`);
      }
      if (done.status === 403 || done.status === 404) stats.movedByShuffle++;
      else stats.notYet++;
      await sleep(200);
    }
    throw new Violation(`task ${task.id} still not done after 100 rounds (state ${current.state})`);
  }

  async function lifecycle(n: number): Promise<void> {
    const began = Date.now();
    await completeTask(await createTask(n));
    stats.lifecycleMs.push(Date.now() - began);
  }

  /**
   * Sends an event until the issue has taken it: a 409 is the echo of an attempt that landed when the issue is past
   * `landedIn`'s states, and "not yet" while it is still in `waitingIn`.
   */
  async function sendUntilTaken(issueId: string, user: User, type: string, landed: (state: string) => boolean, waiting: (state: string) => boolean): Promise<void> {
    for (let round = 1; round <= 100; round++) {
      const answer = await api.call<Issue>('POST', `/issues/${issueId}/events`, { token: user.token, body: { type, data: {} } });
      if (answer.status === 200) return;
      if (answer.status !== 409) throw new Violation(`${type} of issue ${issueId}: ${answer.status} ${JSON.stringify(answer.body)}`);
      const issue = await read(issueId);
      if (landed(issue.state)) {
        if (!answer.retried) throw new Violation(`${type} of issue ${issueId} refused on its first attempt, yet the issue is in ${issue.state}`);
        stats.landedBeforeRetry++;
        return;
      }
      if (!waiting(issue.state)) throw new Violation(`${type} of issue ${issueId} refused in state ${issue.state}: ${JSON.stringify(answer.body)}`);
      stats.notYet++;
      await sleep(300);
    }
    throw new Violation(`${type} of issue ${issueId} never taken`);
  }

  /** An issue in `state`, read until it gets there (it may be a step behind our last answer). */
  async function reached(issueId: string, state: string): Promise<Issue> {
    const deadline = Date.now() + giveUpAfterMs;
    for (;;) {
      const issue = await read(issueId);
      if (issue.state === state) return issue;
      if (Date.now() > deadline) throw new Violation(`issue ${issueId} stays in ${issue.state}, expected ${state}`);
      await sleep(300);
    }
  }

  /** Seed 000 scenario 1: create → start → count → close → the reviewer approves. */
  async function inventory(n: number): Promise<void> {
    const began = Date.now();
    const items = [
      { sku: `BOLT-${n}`, name: 'Bolt M8', expectedQuantity: between(10, 200) },
      { sku: `NUT-${n}`, name: 'Nut M8', expectedQuantity: between(10, 200) },
    ];
    const created = await api.expect<Issue>(201, 'POST', '/issues', {
      token: pick(cast.of('client')).token,
      headers: { 'Idempotency-Key': randomUUID() },
      body: { type: 'inventory', title: `Chaos inventory ${n}`, context: { location: `Warehouse ${n % 7}, shelf ${n}`, items } },
    });
    const issue = created.body;
    if (issue.state !== 'awaitingStart') throw new Violation(`inventory issue ${issue.id} answered in state ${issue.state}, not awaitingStart`);
    const performer = assignee(issue, 'worker');
    const inventoryId = String(issue.context.inventoryId);

    const started = await api.call('POST', `/inventories/${inventoryId}/start`, { token: performer.token });
    if (started.status === 409 && started.retried && String(started.body?.type).endsWith('/already-started')) stats.landedBeforeRetry++;
    else if (started.status !== 200) throw new Violation(`start of inventory ${inventoryId}: ${started.status} ${JSON.stringify(started.body)}`);

    const note = `counted by chaos run, inventory ${n}`;
    const fresh = await api.expect(200, 'GET', `/inventories/${inventoryId}`, { token: performer.token });
    const counted = await api.call('PATCH', `/inventories/${inventoryId}`, {
      token: performer.token,
      headers: { 'If-Match': fresh.headers.get('etag')! },
      body: { note, lines: [...items.map((item) => ({ sku: item.sku, countedQuantity: item.expectedQuantity - between(0, 1) })), { sku: `WASHER-${n}`, name: 'Washer', countedQuantity: 3 }] },
    });
    if (counted.status === 412 && counted.retried) {
      const now = await api.expect(200, 'GET', `/inventories/${inventoryId}`, { token: performer.token });
      if (now.body.note !== note) throw new Violation(`inventory ${inventoryId}: the count was refused (412) and not recorded`);
      stats.landedBeforeRetry++;
    } else if (counted.status !== 200) throw new Violation(`count of inventory ${inventoryId}: ${counted.status} ${JSON.stringify(counted.body)}`);

    await sendUntilTaken(
      issue.id,
      performer,
      'close',
      (state) => ['closingInventory', 'assigningReviewer', 'inReview', 'closed'].includes(state),
      (state) => ['awaitingStart', 'startOverdue'].includes(state),
    );
    const inReview = await reached(issue.id, 'inReview');
    await sendUntilTaken(issue.id, assignee(inReview, 'reviewer'), 'approve', (state) => state === 'closed', () => false);
    stats.inventoryMs.push(Date.now() - began);
  }

  /** POST /tasks/shuffle, then its progress until it has completed. */
  async function shuffle(): Promise<void> {
    const began = Date.now();
    const token = manager().token;
    const started = await api.expect<{ id: string }>(202, 'POST', '/tasks/shuffle', { token, headers: { 'Idempotency-Key': randomUUID() } });
    const id = started.body.id;
    for (;;) {
      const progress = await api.call<{ status: string; seen: number; reassigned: number; skipped: number }>('GET', `/task-shuffles/${id}`, { token });
      if (progress.status === 200 && progress.body.status === 'completed') {
        stats.shuffle = { id, seen: progress.body.seen, reassigned: progress.body.reassigned, skipped: progress.body.skipped, ms: Date.now() - began };
        return;
      }
      if (progress.status !== 200 && progress.status !== 404) throw new Violation(`shuffle ${id}: ${progress.status} ${JSON.stringify(progress.body)}`);
      if (Date.now() - began > shuffleWithinMs) throw new Violation(`shuffle ${id} not completed after ${shuffleWithinMs / 1000} s`);
      await sleep(500);
    }
  }

  /** POST /billing/days/<day>/close by an accountant while entries keep coming, then the day until it is closed. */
  async function closeDay(date: string): Promise<void> {
    const began = Date.now();
    const token = pick(cast.of('accountant')).token;
    const close = await api.call('POST', `/billing/days/${date}/close`, { token });
    if (close.status !== 202 && !(close.status === 200 && close.retried)) throw new Violation(`close of ${date}: ${close.status} ${JSON.stringify(close.body)}`);
    for (;;) {
      const day = await api.expect<{ status: string }>(200, 'GET', `/billing/days/${date}`, { token });
      if (day.body.status === 'closed') break;
      if (Date.now() - began > giveUpAfterMs) throw new Violation(`billing day ${date} still ${day.body.status} after ${giveUpAfterMs / 1000} s`);
      await sleep(500);
    }
    stats.dayCloseMs = Date.now() - began;
  }

  return { lifecycle, createTask, completeTask, inventory, shuffle, closeDay };
}

/** Runs `jobs` with at most `concurrency` at a time; a job's violation is recorded and the others go on. */
async function pool(concurrency: number, jobs: (() => Promise<void>)[], onDone: () => void): Promise<void> {
  let next = 0;
  const runner = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      try {
        await job();
      } catch (error) {
        violate(error instanceof Violation ? error.message : `unexpected: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      }
      onDone();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, runner));
}

async function runLoad(stack: Stack, api: Api, cast: Cast) {
  const load = createLoad(api, cast);
  const poolLifecycles = size.lifecycles - parked;
  let finished = 0;
  let inventoriesDone = 0;
  // Inventories spread evenly through the lifecycles, so they meet every kind of crash.
  const jobs: (() => Promise<void>)[] = [];
  const inventoryJob = (i: number) => async () => {
    await load.inventory(i);
    inventoriesDone++;
  };
  const every = Math.max(1, Math.floor(poolLifecycles / (size.inventories + 1)));
  let inventories = 0;
  for (let n = 0; n < poolLifecycles; n++) {
    if (n % every === every - 1 && inventories < size.inventories) jobs.push(inventoryJob(inventories++));
    jobs.push(async () => {
      await load.lifecycle(parked + n);
      finished++;
    });
  }
  while (inventories < size.inventories) jobs.push(inventoryJob(inventories++));

  // Parked tasks: created first, completed once the shuffle has run, so the shuffle meets every one of them open.
  let shuffled!: () => void;
  const shuffleDone = new Promise<void>((resolve) => (shuffled = resolve));
  const parkedTasks: Issue[] = [];
  const parkedCreated = pool(4, Array.from({ length: parked }, (_, n) => async () => void parkedTasks.push(await load.createTask(n))), () => {});
  const parkedCompleted = parkedCreated.then(async () => {
    await shuffleDone;
    await pool(4, parkedTasks.map((task) => async () => {
      await load.completeTask(task);
      finished++;
    }), () => {});
  });

  const milestones: Promise<void>[] = [];
  const fired = new Set<string>();
  const at = (name: Milestone, run: () => Promise<void>) => {
    const share = milestonesAt[name];
    if (share === undefined || fired.has(name) || finished < share * poolLifecycles) return;
    fired.add(name);
    milestones.push(
      run().catch((error: unknown) => violate(`${name}: ${error instanceof Error ? error.message : String(error)}`)),
    );
  };
  let dayClosed: string | undefined;
  let loading = true;
  // Reads the read model and the ledger in one snapshot while the load runs (paused while PostgreSQL restarts).
  const sampler = startLedgerSampler(stack.databaseUrl);
  const watcher = (async () => {
    let lastReport = Date.now();
    while (loading) {
      at('temporalRestart', async () => {
        say('restarting the Temporal dev server');
        stats.temporalDownMs = await stack.restartTemporal();
        say(`Temporal dev server back after ${stats.temporalDownMs} ms`);
      });
      for (const [milestone, service] of [['historyKill', 'history'], ['matchingKill', 'matching']] as const) {
        at(milestone, async () => {
          say(`SIGKILLing the Temporal ${service} service`);
          const ms = await stack.restartTemporal(service);
          stats.crashes.push([`Temporal ${service}`, ms]);
          say(`Temporal ${service} listening again after ${ms} ms`);
        });
      }
      at('apiKill', async () => {
        say('SIGKILLing API process 1');
        const ms = await stack.crashApi();
        stats.crashes.push(['API process 1', ms]);
        say(`API process 1 listening again after ${ms} ms`);
      });
      at('shuffle', async () => {
        await parkedCreated;
        say(`shuffle started (${parkedTasks.length} parked tasks open)`);
        try {
          await load.shuffle();
          say(`shuffle completed: ${JSON.stringify(stats.shuffle)}`);
        } finally {
          shuffled();
        }
      });
      at('dayClose', async () => {
        const date = await currentBillingDay(stack.database.db, stack.services.deps.config.billing.timeZone);
        dayClosed = date;
        say(`closing billing day ${date} by hand`);
        await load.closeDay(date);
        say(`billing day ${date} closed after ${stats.dayCloseMs} ms`);
      });
      at('postgresRestart', async () => {
        say('restarting PostgreSQL');
        await sampler.pause();
        stats.postgresDownMs = await stack.restartPostgres();
        sampler.resume();
        say(`PostgreSQL back after ${stats.postgresDownMs} ms`);
      });
      if (Date.now() - lastReport > 15_000) {
        lastReport = Date.now();
        const retries = [...stats.retries.values()].reduce((a, b) => a + b, 0);
        say(`lifecycles ${finished}/${size.lifecycles}, inventories ${inventoriesDone}/${size.inventories}, worker kills ${stack.workers.kills}, retried requests ${retries}`);
      }
      await sleep(200);
    }
  })();

  const crashing = keepCrashing(stack.workers);
  try {
    await pool(size.concurrency, jobs, () => {});
    await Promise.all([parkedCompleted, ...milestones]);
  } finally {
    loading = false;
    await watcher;
    await crashing.stop();
    await sampler.stop();
    stats.ledgerSampler = sampler.totals;
    const { samples, skipped, issues, violations: found, sampleMs } = sampler.totals;
    say(`ledger sampler stopped: ${samples} samples (${skipped} skipped), ${issues} issue views checked, ${found} violations; a sample took ${percentile(sampleMs, 50)} ms median, ${Math.max(0, ...sampleMs)} ms max`);
  }
  for (const name of Object.keys(milestonesAt) as Milestone[]) {
    if (!fired.has(name)) violate(`milestone ${name} never fired: too few lifecycles`);
  }
  return { parkedIds: parkedTasks.map((t) => t.id), finished, inventoriesDone, dayClosed };
}

// ---------------------------------------------------------------------------------------------------------------
// Sampled during the load: no issue is ever visible in a state whose ledger entries are missing

/** A visible issue (or the entries of an issue not visible) whose money entries are not what its row says. */
interface LedgerMismatch {
  id: string;
  type_key: string | null;
  state: string | null;
  step: number | null;
  fees: number;
  want_fees: number;
  rewards: number;
  want_rewards: number;
  charges: number;
  want_charges: number;
  credits: number;
  want_credits: number;
}

const samplerEveryMs = { min: 200, max: 500 };
/** A sample stuck on a connection to a PostgreSQL going down is given up (and skipped) after this. */
const sampleWithinMs = 10_000;

/**
 * While the load runs, every 200–500 ms: the read model and the ledger read in one snapshot (a repeatable-read,
 * read-only transaction), and every task and service request checked against its money entries. A step commits
 * its `issues` row and its entries in one transaction, so no snapshot may see the one without the other:
 * - a task has one `assign_fee` per assignment its context counts (`assignments` is incremented in the step that
 *   charges the fee) and one `reward` once it is `done`, none before;
 * - a service request has one `service_charge` and one `service_credit` once its context says `outcome: done`
 *   (set in the step that charges the client and credits the worker), none before; a zero amount writes no entry;
 * - no fee, reward, charge or credit belongs to an issue no row shows yet.
 * Each mismatch (issue, step, counts) is a violation, reported once however many samples see it. A sample that
 * fails (PostgreSQL restarting) is skipped and counted, not a violation. Its own connection, so it waits for no load.
 */
function startLedgerSampler(databaseUrl: string) {
  // Its own connection, closed while PostgreSQL restarts: a query in flight on a socket the server drops can
  // throw inside the client library, outside any promise, and end this process.
  let database = openDatabase(databaseUrl, { max: 1 });
  let inFlight: Promise<unknown> = Promise.resolve();
  let resumed: Promise<void> | undefined;
  let resume = () => {};
  const totals = { samples: 0, skipped: 0, issues: 0, mismatchesSeen: 0, violations: 0, sampleMs: [] as number[] };
  const reported = new Set<string>();
  const skipReasons = new Set<string>();
  const sample = () =>
    database.sql.begin('isolation level repeatable read read only', async (tx) => {
      const [visible] = await tx<{ issues: number }[]>`
        select count(*)::int as issues from issues where type_key in ('task', 'service_request')`;
      const mismatches = await tx<LedgerMismatch[]>`
        with money as (
          select issue_id,
                 count(*) filter (where kind = 'assign_fee')::int as fees,
                 count(*) filter (where kind = 'reward')::int as rewards,
                 count(*) filter (where kind = 'service_charge')::int as charges,
                 count(*) filter (where kind = 'service_credit')::int as credits
          from ledger_entries
          where issue_id is not null and kind in ('assign_fee', 'reward', 'service_charge', 'service_credit')
          group by issue_id
        ), seen as (
          select coalesce(i.id, m.issue_id) as id, i.type_key, i.state, i.step,
                 coalesce(m.fees, 0) as fees, coalesce(m.rewards, 0) as rewards,
                 coalesce(m.charges, 0) as charges, coalesce(m.credits, 0) as credits,
                 case when i.type_key = 'task' then (i.context->>'assignments')::int else 0 end as want_fees,
                 case when i.type_key = 'task' and i.state = 'done' then 1 else 0 end as want_rewards,
                 case when i.type_key = 'service_request' and i.context->>'outcome' = 'done'
                       and (i.context->>'priceCents')::bigint <> 0 then 1 else 0 end as want_charges,
                 case when i.type_key = 'service_request' and i.context->>'outcome' = 'done'
                       and (i.context->>'workerCreditCents')::bigint <> 0 then 1 else 0 end as want_credits
          from issues i full join money m on m.issue_id = i.id
          where i.id is null or i.type_key in ('task', 'service_request')
        )
        select * from seen
        where fees <> want_fees or rewards <> want_rewards or charges <> want_charges or credits <> want_credits`;
      return { issues: visible!.issues, mismatches };
    });

  let running = true;
  const loop = (async () => {
    while (running) {
      if (resumed) await resumed;
      if (!running) break;
      const began = Date.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        const attempt = sample();
        inFlight = attempt.catch(() => {}); // given up on below: its late failure is of no interest
        const result = await Promise.race([
          attempt,
          new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${sampleWithinMs} ms`)), sampleWithinMs))),
        ]);
        totals.samples++;
        totals.sampleMs.push(Date.now() - began);
        totals.issues += result.issues;
        totals.mismatchesSeen += result.mismatches.length;
        for (const m of result.mismatches) {
          const key = `${m.id}:${m.step}:${m.fees}/${m.rewards}/${m.charges}/${m.credits}`;
          if (reported.has(key)) continue;
          reported.add(key);
          totals.violations++;
          const what = m.type_key ? `${m.type_key} ${m.id} visible at step ${m.step} in ${m.state}` : `issue ${m.id} not visible`;
          const off = (
            [
              ['assign_fee', m.fees, m.want_fees],
              ['reward', m.rewards, m.want_rewards],
              ['service_charge', m.charges, m.want_charges],
              ['service_credit', m.credits, m.want_credits],
            ] as const
          )
            .filter(([, has, wants]) => has !== wants)
            .map(([kind, has, wants]) => `${has} ${kind} entries, expected ${wants}`);
          violate(`sampled during the load: ${what} with ${off.join(', ')}`);
        }
      } catch (error) {
        totals.skipped++;
        const reason = error instanceof Error ? error.message : String(error);
        if (!skipReasons.has(reason) && skipReasons.size < 5) {
          skipReasons.add(reason);
          say(`ledger sample skipped: ${reason}`);
        }
      } finally {
        clearTimeout(timer);
      }
      if (running) await sleep(between(samplerEveryMs.min, samplerEveryMs.max));
    }
  })();

  return {
    totals,
    /** Stops sampling and closes the connection until `resume`: PostgreSQL is about to go away. */
    async pause() {
      resumed = new Promise<void>((done) => (resume = done));
      await inFlight;
      await database.close().catch(() => {});
    },
    resume() {
      database = openDatabase(databaseUrl, { max: 1 });
      resumed = undefined;
      resume();
    },
    async stop() {
      running = false;
      resume();
      await loop;
      await database.close().catch(() => {});
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Settling and the checks

async function settle(stack: Stack): Promise<void> {
  const temporal = stack.services.deps.temporal;
  const query = `WorkflowType = 'issueWorkflow' AND ExecutionStatus = 'Running'`;
  const began = Date.now();
  let lastReport = began;
  for (;;) {
    try {
      const { count: running } = await temporal.workflow.count(query);
      if (running === 0) return;
      if (Date.now() - began > settleWithinMs) {
        violate(`${running} issue workflows still running ${settleWithinMs / 1000} s after the load`);
        return;
      }
      if (Date.now() - lastReport > 15_000) {
        lastReport = Date.now();
        say(`${running} issue workflows still running; ${await waitingOn(stack, query)}`);
      }
    } catch (error) {
      if (Date.now() - began > settleWithinMs) throw error;
    }
    await sleep(1000);
  }
}

/** What the first few running issues wait for: their pending activities, with attempt and last failure. */
async function waitingOn(stack: Stack, query: string): Promise<string> {
  const temporal = stack.services.deps.temporal;
  const seen: string[] = [];
  for await (const execution of temporal.workflow.list({ query, pageSize: 3 })) {
    const { raw } = await temporal.workflow.getHandle(execution.workflowId).describe();
    const pending = (raw.pendingActivities ?? []).map((a) => `${a.activityType?.name} attempt ${a.attempt}${a.lastFailure?.message ? ` (${a.lastFailure.message})` : ''}`);
    seen.push(`${execution.workflowId}: ${pending.length ? pending.join(', ') : 'no pending activity'}`);
    if (seen.length >= 3) break;
  }
  return seen.join('; ');
}

interface CheckRow {
  check: string;
  expected: string | number;
  actual: string | number;
}

async function check(stack: Stack, cast: Cast, ran: Awaited<ReturnType<typeof runLoad>>): Promise<CheckRow[]> {
  const { sql } = stack.database;
  const rows: CheckRow[] = [];
  const row = (checkName: string, expected: string | number, actual: string | number, detail?: () => string[]) => {
    rows.push({ check: checkName, expected, actual });
    if (expected !== actual) {
      violate(`${checkName}: expected ${expected}, got ${actual}`);
      for (const line of (detail?.() ?? []).slice(0, 10)) violate(`  ${line}`);
    }
  };

  // --- every issue at its end state
  const issues = await sql<{ id: string; type_key: string; state: string; status: string; assignee_id: string | null; context: Json }[]>`
    select id, type_key, state, status, assignee_id, context from issues`;
  const tasks = issues.filter((i) => i.type_key === 'task');
  const inventoryIssues = issues.filter((i) => i.type_key === 'inventory');
  row('task issues', size.lifecycles, tasks.length);
  const notDone = tasks.filter((t) => t.state !== 'done' || t.status !== 'done');
  row('tasks not done', 0, notDone.length, () => notDone.map((t) => `task ${t.id} is ${t.state}/${t.status}`));
  row('inventory issues', size.inventories, inventoryIssues.length);
  const notClosed = inventoryIssues.filter((i) => i.state !== 'closed' || i.status !== 'done');
  row('inventory issues not closed', 0, notClosed.length, () => notClosed.map((i) => `inventory issue ${i.id} is ${i.state}/${i.status}`));
  const [inventoryStatus] = await sql<{ closed: number; other: number }[]>`
    select (count(*) filter (where status = 'closed'))::int as closed, (count(*) filter (where status <> 'closed'))::int as other from inventories`;
  row('inventories closed', size.inventories, inventoryStatus!.closed);
  row('inventories not closed', 0, inventoryStatus!.other);
  const other = issues.filter((i) => i.type_key !== 'task' && i.type_key !== 'inventory');
  row('issues of other types', 0, other.length);
  const days = await sql<{ date: string; status: string; cutoff_at: Date | null; fees_cents: number | null; rewards_cents: number | null; payouts_cents: number | null }[]>`
    select date::text as date, status::text as status, cutoff_at, fees_cents::int, rewards_cents::int, payouts_cents::int from billing_days order by date`;
  row(`billing day ${ran.dayClosed ?? '(none)'}`, 'closed', days.find((d) => d.date === ran.dayClosed)?.status ?? 'missing');
  row('shuffle', 'completed', stats.shuffle ? 'completed' : 'not completed');
  const { count: running } = await stack.services.deps.temporal.workflow.count(`WorkflowType = 'issueWorkflow' AND ExecutionStatus = 'Running'`);
  row('issue workflows still running', 0, running);

  // --- fees and rewards: one fee per recorded assignment, one reward per completion
  const entries = await sql<{ key: string; issue_id: string | null; kind: string; user_id: string; amount: number; date: string; created_at: Date }[]>`
    select key, issue_id, kind::text as kind, user_id, amount_cents::int as amount, billing_date::text as date, created_at from ledger_entries`;
  const assigned = await sql<{ task: string; assignee: string }[]>`
    select data->>'taskId' as task, data->>'assigneeId' as assignee from domain_events where name = 'task.assigned'`;
  const steps = await sql<{ issue_id: string; event: string; n: number }[]>`
    select issue_id, event, count(*)::int as n from issue_transitions group by issue_id, event`;
  const group = <T, K>(list: readonly T[], key: (t: T) => K) => {
    const map = new Map<K, T[]>();
    for (const item of list) map.set(key(item), [...(map.get(key(item)) ?? []), item]);
    return map;
  };
  const entriesOf = group(entries, (e) => `${e.issue_id}:${e.kind}`);
  const assignedTo = group(assigned, (a) => a.task);
  const stepCount = new Map(steps.map((s) => [`${s.issue_id}:${s.event}`, s.n]));
  const sorted = (list: string[]) => [...list].sort().join(',');
  const feeProblems: string[] = [];
  const rewardProblems: string[] = [];
  let assignments = 0;
  let expectedMoney = 0;
  for (const task of tasks) {
    const a = Number(task.context.assignments);
    const fee = Number(task.context.assignFeeCents);
    const reward = Number(task.context.rewardCents);
    assignments += a;
    expectedMoney += reward - a * fee;
    const fees = entriesOf.get(`${task.id}:assign_fee`) ?? [];
    const events = assignedTo.get(task.id) ?? [];
    if (fees.length !== a || events.length !== a || stepCount.get(`${task.id}:assignee.assigned`) !== a) {
      feeProblems.push(`task ${task.id}: ${a} assignments in its context, ${events.length} task.assigned events, ${stepCount.get(`${task.id}:assignee.assigned`) ?? 0} assignment steps, ${fees.length} fees`);
    } else if (fees.some((f) => f.amount !== -fee) || sorted(fees.map((f) => f.user_id)) !== sorted(events.map((e) => e.assignee))) {
      feeProblems.push(`task ${task.id}: fees ${JSON.stringify(fees.map((f) => [f.user_id, f.amount]))} do not match its assignments ${JSON.stringify(events.map((e) => e.assignee))} at ${-fee}`);
    }
    const rewards = entriesOf.get(`${task.id}:reward`) ?? [];
    if (task.status === 'done' && (rewards.length !== 1 || rewards[0]!.amount !== reward || rewards[0]!.user_id !== task.assignee_id)) {
      rewardProblems.push(`task ${task.id} done by ${task.assignee_id} for ${reward}: rewards ${JSON.stringify(rewards.map((r) => [r.user_id, r.amount]))}`);
    }
  }
  const feeEntries = entries.filter((e) => e.kind === 'assign_fee');
  const rewardEntries = entries.filter((e) => e.kind === 'reward');
  row('assignments recorded (tasks’ context)', assignments, assigned.length);
  row('assign fees', assignments, feeEntries.length);
  row('tasks whose fees do not match their assignments', 0, feeProblems.length, () => feeProblems);
  row('rewards', tasks.filter((t) => t.status === 'done').length, rewardEntries.length);
  row('tasks without exactly one right reward', 0, rewardProblems.length, () => rewardProblems);
  const parkedIds = new Set(ran.parkedIds);
  const parkedOff = tasks.filter((t) => parkedIds.has(t.id) && Number(t.context.assignments) !== 2);
  row('parked tasks not reassigned exactly once by the shuffle', 0, parkedOff.length, () => parkedOff.map((t) => `task ${t.id}: ${t.context.assignments} assignments`));
  const shuffleSteps = steps.filter((s) => s.event === 'shuffle').reduce((sum, s) => sum + s.n, 0);
  row('shuffle steps (one per reassignment)', assignments - tasks.length, shuffleSteps);
  const inventoryIds = new Set(inventoryIssues.map((i) => i.id));
  row('ledger entries of inventory issues', 0, entries.filter((e) => e.issue_id && inventoryIds.has(e.issue_id)).length);
  const unknownUsers = entries.filter((e) => e.kind !== 'payout' && cast.byId.get(e.user_id)?.role !== 'worker');
  row('fees or rewards on someone not a worker of the run', 0, unknownUsers.length);

  // --- payouts: one per positive account and closed day, none otherwise; closed days keep their totals
  const payouts = entries.filter((e) => e.kind === 'payout');
  const closedDays = days.filter((d) => d.status === 'closed');
  const accountsRows = await sql<{ user_id: string; balance: number }[]>`select user_id, balance_cents::int as balance from accounts`;
  const payoutProblems: string[] = [];
  let positiveAccountDays = 0;
  for (const day of closedDays) {
    for (const { user_id: userId } of accountsRows) {
      const mine = entries.filter((e) => e.user_id === userId);
      const atCutoff = mine.filter((e) => e.date < day.date || (e.date === day.date && e.kind !== 'payout')).reduce((sum, e) => sum + e.amount, 0);
      const paid = mine.filter((e) => e.date === day.date && e.kind === 'payout');
      if (atCutoff > 0) positiveAccountDays++;
      const ok = atCutoff > 0 ? paid.length === 1 && paid[0]!.amount === -atCutoff : paid.length === 0;
      if (!ok) payoutProblems.push(`${day.date} account ${userId}: ${atCutoff} at the cut-off, payouts ${JSON.stringify(paid.map((p) => p.amount))}`);
    }
    const ofDay = entries.filter((e) => e.date === day.date);
    const sum = (kind: string) => ofDay.filter((e) => e.kind === kind).reduce((s, e) => s + e.amount, 0);
    const stored = `fees ${day.fees_cents}, rewards ${day.rewards_cents}, payouts ${day.payouts_cents}`;
    row(`${day.date} stored totals = its ledger`, stored, `fees ${-sum('assign_fee')}, rewards ${sum('reward')}, payouts ${-sum('payout')}`);
    const late = ofDay.filter((e) => e.kind !== 'payout' && day.cutoff_at && e.created_at > day.cutoff_at);
    row(`${day.date} entries begun after its cut-off`, 0, late.length);
  }
  row('positive accounts paid out (account × closed day)', positiveAccountDays, payouts.length);
  row('accounts paid wrongly (none, twice or the wrong amount)', 0, payoutProblems.length, () => payoutProblems);
  const closedDates = new Set(closedDays.map((d) => d.date));
  row('payouts on days not closed', 0, payouts.filter((p) => !closedDates.has(p.date)).length);

  // --- the ledger adds up
  const ledgerSum = entries.reduce((sum, e) => sum + e.amount, 0);
  const balanceSum = accountsRows.reduce((sum, a) => sum + a.balance, 0);
  row('sum of the ledger = sum of balances', ledgerSum, balanceSum);
  const byAccount = group(entries, (e) => e.user_id);
  const offAccounts = accountsRows.filter((a) => (byAccount.get(a.user_id) ?? []).reduce((s, e) => s + e.amount, 0) !== a.balance);
  row('accounts whose balance is not the sum of their entries', 0, offAccounts.length, () =>
    offAccounts.map((a) => `account ${a.user_id}: balance ${a.balance}, entries ${(byAccount.get(a.user_id) ?? []).reduce((s, e) => s + e.amount, 0)}`),
  );
  row('fees and rewards = what the tasks say', expectedMoney, entries.filter((e) => e.kind !== 'payout').reduce((s, e) => s + e.amount, 0));

  // --- no domain event twice: by id, and by what it is about
  const [ids] = await sql<{ n: number; distinct_ids: number }[]>`select count(*)::int as n, count(distinct id)::int as distinct_ids from domain_events`;
  row('domain events with a repeated id', 0, ids!.n - ids!.distinct_ids);
  const onceEach = [
    'inventory.created', 'inventory.issue_created', 'inventory.issue_assigned', 'inventory.performer_notified', 'inventory.started',
    'inventory.updated', 'inventory.close_requested', 'inventory.closed', 'inventory.reviewer_notified', 'inventory.issue_closed',
  ];
  const repeated = await sql<{ name: string; subject: string; n: number }[]>`
    select name, subject, count(*)::int as n from (
      select name, case
        when name = 'issue.transitioned' then (data->>'issueId') || ' step ' || (data->>'step')
        when name in ('billing.entry.recorded', 'billing.payout.made') then data->>'key'
        when name = 'billing.day.closed' then data->>'date'
        when name in ('task.created', 'task.completed') then data->>'taskId'
        when name = 'notification.sent' then (data->>'userId') || ' ' || (data->>'key')
        when name in ('user.created') then data->>'id'
        when name = any(${onceEach}) then data->>'issueId'
      end as subject
      from domain_events) e
    where subject is not null group by name, subject having count(*) > 1`;
  row('domain events repeated for the same thing', 0, repeated.length, () => repeated.map((r) => `${r.name} for ${r.subject}: ${r.n} times`));
  const events = new Map(
    (await sql<{ name: string; n: number }[]>`select name, count(*)::int as n from domain_events group by name`).map((e) => [e.name, e.n]),
  );
  const [transitions] = await sql<{ n: number }[]>`select count(*)::int as n from issue_transitions`;
  row('issue.transitioned events = recorded steps', transitions!.n, events.get('issue.transitioned') ?? 0);
  row('task.created events = tasks', tasks.length, events.get('task.created') ?? 0);
  row('task.completed events = done tasks', tasks.filter((t) => t.status === 'done').length, events.get('task.completed') ?? 0);
  row('billing.entry.recorded events = fees and rewards', feeEntries.length + rewardEntries.length, events.get('billing.entry.recorded') ?? 0);
  row('billing.payout.made events = payouts', payouts.length, events.get('billing.payout.made') ?? 0);
  row('billing.day.closed events = closed days', closedDays.length, events.get('billing.day.closed') ?? 0);
  for (const name of onceEach) row(`${name} events = inventories`, size.inventories, events.get(name) ?? 0);

  // --- sampled during the load (each mismatch was reported when it was seen; a sampler that never read is one too)
  const sampled = stats.ledgerSampler;
  row(
    `issues visible with missing (or extra) ledger entries (sampled ${sampled?.samples ?? 0} times during load, ${sampled?.skipped ?? 0} skipped, ${sampled?.issues ?? 0} issue views checked)`,
    0,
    sampled && sampled.samples > 0 ? sampled.violations : 'never sampled',
  );
  // --- an outage answers 503 with Retry-After (or no answer at all), never another 5xx
  const otherServerErrors = [...stats.retries.entries()].filter(([reason]) => reason.startsWith('HTTP 5') && reason !== 'HTTP 503');
  row('answers 5xx other than 503 with Retry-After during the restarts', 0, otherServerErrors.reduce((sum, [, n]) => sum + n, 0));
  return rows;
}

// ---------------------------------------------------------------------------------------------------------------
// Report

function table(title: string, header: string[], body: (string | number)[][]): void {
  const cells = [header, ...body].map((r) => r.map(String));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(`\n${title}\n${line(cells[0]!)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const r of cells.slice(1)) console.log(line(r));
}

const percentile = (values: number[], p: number) => {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function report(stack: Stack, ran: Awaited<ReturnType<typeof runLoad>> | undefined, checks: CheckRow[]): void {
  const starts = stack.workers.startMs;
  const run: (string | number)[][] = [
    ['mode', `${flags.short ? 'short' : 'full'}${flags.cluster ? ', cluster' : ''}`],
    ['task lifecycles (of which parked through the shuffle)', `${ran?.finished ?? 0}/${size.lifecycles} (${parked})`],
    ['inventories walked to the end', `${ran?.inventoriesDone ?? 0}/${size.inventories}`],
    ['concurrency', size.concurrency],
    ['worker SIGKILLs', stack.workers.kills],
    ['worker exits nobody asked for', stack.workers.unexpectedExits],
    ['worker start to ready (median / max)', `${seconds(percentile(starts, 50))} / ${seconds(Math.max(0, ...starts))}`],
    ...(flags.cluster
      ? stats.crashes.map(([what, ms]) => [`${what} SIGKILL (kill to listening again)`, seconds(ms)])
      : [['Temporal dev server restart (down to ready)', seconds(stats.temporalDownMs)]]),
    ['PostgreSQL restart (down to ready)', seconds(stats.postgresDownMs)],
    ['shuffle (seen / reassigned / skipped, time)', stats.shuffle ? `${stats.shuffle.seen} / ${stats.shuffle.reassigned} / ${stats.shuffle.skipped}, ${seconds(stats.shuffle.ms)}` : 'not completed'],
    [`day close of ${ran?.dayClosed ?? '-'} (request to closed)`, seconds(stats.dayCloseMs)],
    ['lifecycle time (median / p95 / max)', `${seconds(percentile(stats.lifecycleMs, 50))} / ${seconds(percentile(stats.lifecycleMs, 95))} / ${seconds(Math.max(0, ...stats.lifecycleMs))}`],
    ['inventory time (median / max)', `${seconds(percentile(stats.inventoryMs, 50))} / ${seconds(Math.max(0, ...stats.inventoryMs))}`],
    [
      'ledger samples during the load (taken / skipped, time median / max)',
      stats.ledgerSampler
        ? `${stats.ledgerSampler.samples} / ${stats.ledgerSampler.skipped}, ${percentile(stats.ledgerSampler.sampleMs, 50)} ms / ${Math.max(0, ...stats.ledgerSampler.sampleMs)} ms`
        : 'none',
    ],
    ['requests retried after a transient failure', [...stats.retries.values()].reduce((a, b) => a + b, 0)],
    ...[...stats.retries.entries()].sort().map(([reason, n]) => [`  of which after ${reason}`, n]),
    ['events refused (409) on a retry because the first attempt had landed', stats.landedBeforeRetry],
    ['completions refused (403/404) because the shuffle had moved the task', stats.movedByShuffle],
    ['events refused (409) because the issue was not there yet, sent again', stats.notYet],
    ...stats.phases.map(([phase, ms]) => [`time: ${phase}`, seconds(ms)]),
  ];
  table('Chaos run', ['what', 'value'], run);
  table('Checks', ['check', 'expected', 'actual', ''], checks.map((c) => [c.check, c.expected, c.actual, c.expected === c.actual ? 'ok' : 'VIOLATION']));
}

// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const scratch = scratchFolder('chaos');
  say(`chaos run (${flags.short ? 'short' : 'full'}${flags.cluster ? ', Temporal cluster' : ''}): ${size.lifecycles} task lifecycles, ${size.inventories} inventories, concurrency ${size.concurrency}; logs in ${scratch}`);
  let phase = Date.now();
  const endPhase = (name: string) => {
    stats.phases.push([name, Date.now() - phase]);
    phase = Date.now();
  };

  const stack = await startStack(scratch);
  let interrupted = false;
  const interrupt = () => {
    if (interrupted) return;
    interrupted = true;
    say('interrupted: stopping everything');
    void stack.stop().then(() => process.exit(130));
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);

  let ran: Awaited<ReturnType<typeof runLoad>> | undefined;
  let checks: CheckRow[] = [];
  try {
    const api = apiClient(stack.apiUrls);
    const cast = await createCast(stack.database, api);
    endPhase('start-up (servers, migrations, bundle, users)');
    say('load starts; the worker is SIGKILLed every 2–6 s from now');
    ran = await runLoad(stack, api, cast);
    endPhase('load under chaos');
    say('load done; letting every issue settle');
    await settle(stack);
    endPhase('settling');
    checks = await check(stack, cast, ran);
    endPhase('checks');
  } catch (error) {
    violate(`the run failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
  report(stack, ran, checks);
  await stack.stop();
  if (violations.length > 0) {
    console.log(`\n${violations.length} violation(s):`);
    for (const v of violations.slice(0, 50)) console.log(`  - ${v}`);
    if (violations.length > 50) console.log(`  … and ${violations.length - 50} more`);
    console.log(`logs and data kept in ${scratch}`);
    return 1;
  }
  console.log(`\nno violations${flags.keep ? `; logs and data kept in ${scratch}` : ''}`);
  if (!flags.keep) rmSync(scratch, { recursive: true, force: true });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
