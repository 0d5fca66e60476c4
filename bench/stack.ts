// One aTES deployment per case: a fresh database and namespace, the API and the workers as child processes
// (`api/main.ts`, `workers/main.ts`, as in a scale-out deployment), so the bench process only generates load.
import { randomBytes, randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { openDatabase, type Database } from '../db/client.js';
import type { Role } from '../db/schema/auth.js';
import { createUser } from '../lib/auth/users.js';
import type { BenchEnv } from './env.js';
import { startChildService, type ChildService } from './processes.js';

export interface Answer<T = any> {
  status: number;
  body: T;
}

export interface BenchUser {
  id: string;
  role: Role;
  token: string;
}

export interface ProductStack {
  databaseUrl: string;
  namespace: string;
  /** Direct access for seeding and checks. */
  database: Database;
  /** A Temporal client on the stack's namespace. */
  temporal: Client;
  api: ChildService;
  /** The worker process (every context), when the stack was started with workers. */
  workers?: ChildService;
  request<T = any>(method: string, path: string, options?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<Answer<T>>;
  /** Like request, but throws unless the status is the expected one. */
  call<T = any>(method: string, path: string, expected: number, options?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<T>;
  user(role: Role): Promise<BenchUser>;
  stop(): Promise<void>;
}

const requestTimeoutMs = 120_000;

const running = new Set<() => Promise<void>>();

/** Stops the stacks of an interrupted run before their databases are dropped. */
export async function stopRunningStacks(): Promise<void> {
  for (const stop of [...running]) await stop().catch(() => {});
}

/**
 * `databaseUrl`: a database of `env` prepared beforehand (e.g. seeded); by default a fresh one. `workerEnv`: settings of
 * the worker process beside the product's defaults; `processEnv`: settings of both processes (e.g. where traces go).
 */
export async function startProductStack(
  env: BenchEnv,
  options: { workers: boolean; databaseUrl?: string; workerEnv?: Record<string, string>; processEnv?: Record<string, string> },
): Promise<ProductStack> {
  const [databaseUrl, namespace] = await Promise.all([options.databaseUrl ?? env.createDatabase(), env.createNamespace()]);
  const common = {
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: env.temporalAddress,
    TEMPORAL_NAMESPACE: namespace,
    JWT_SECRET: randomBytes(32).toString('hex'),
    DATA_DIR: env.scratch,
    // Info: the processes announce that they are ready at this level.
    LOG_LEVEL: 'info',
    ...options.processEnv,
  };
  const database = openDatabase(databaseUrl, { max: 10 });
  const connection = await Connection.connect({ address: env.temporalAddress });
  const temporal = new Client({ connection, namespace });
  const started: ChildService[] = [];

  const stop = async () => {
    running.delete(stop);
    for (const service of started.splice(0).reverse()) await service.stop();
    await connection.close();
    await database.close();
  };
  running.add(stop);

  const startService = async (script: string, env: Record<string, string>, readyPattern: RegExp) => {
    const service = await startChildService({ script, env: { ...common, ...env }, readyPattern });
    started.push(service);
    return service;
  };

  try {
    // Both settle before a failure is thrown, so stop() finds every process that did start.
    const [apiStart, workersStart] = await Promise.allSettled([
      startService('api/main.ts', { HOST: '127.0.0.1', PORT: '0' }, /API on (http:\/\/[^\s"]+)/),
      options.workers ? startService('workers/main.ts', { ...options.workerEnv, WORKFLOW_BUNDLE_PATH: env.workflowBundlePath }, /workers of .* running/) : undefined,
    ]);
    if (apiStart.status === 'rejected') throw apiStart.reason;
    if (workersStart.status === 'rejected') throw workersStart.reason;
    const api = apiStart.value;
    const apiUrl = api.ready[1]!;

    const request: ProductStack['request'] = async (method, path, { token, body, headers = {} } = {}) => {
      const response = await fetchOrExplain(method, path, () => fetch(`${apiUrl}${path}`, {
        method,
        // A call that hangs fails the case with its name instead of holding up the whole run.
        signal: AbortSignal.timeout(requestTimeoutMs),
        headers: {
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      }));
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: keep the text
      }
      return { status: response.status, body: parsed as any };
    };

    const stack: ProductStack = {
      databaseUrl,
      namespace,
      database,
      temporal,
      api,
      workers: workersStart.value,
      request,
      async call(method, path, expected, options) {
        const answer = await request(method, path, options);
        if (answer.status !== expected) throw new Error(`${method} ${path}: expected ${expected}, got ${answer.status} ${JSON.stringify(answer.body)}`);
        return answer.body;
      },
      async user(role) {
        const password = `pw-${randomUUID()}`;
        const email = `${role}-${randomUUID().slice(0, 8)}@bench.local`;
        const user = await createUser(database.db, { name: `${role} ${email}`, email, role, password });
        const { token } = await stack.call<{ token: string }>('POST', '/auth/login', 200, { body: { email, password } });
        return { id: user.id, role, token };
      },
      stop,
    };
    return stack;
  } catch (error) {
    await stop();
    throw error;
  }
}

async function fetchOrExplain(method: string, path: string, send: () => Promise<Response>): Promise<Response> {
  try {
    return await send();
  } catch (error) {
    const reason = error instanceof DOMException && error.name === 'TimeoutError' ? `no answer within ${requestTimeoutMs / 1000} s` : String(error);
    throw new Error(`${method} ${path}: ${reason}`, { cause: error });
  }
}
