// Per test file: a fresh database cloned from the migrated template, its own Temporal namespace,
// workers in this process and the API on a real HTTP port.
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Connection } from '@temporalio/client';
import postgres from 'postgres';
import { inject } from 'vitest';
import { openDatabase, type Database } from '../../db/client.js';
import type { Role } from '../../db/schema/auth.js';
import { createUser, type PublicUser } from '../../lib/auth/users.js';
import { contexts, loadConfig, type Config, type ContextName } from '../../lib/config.js';
import { createLogger } from '../../lib/logger.js';
import { startProcess, type AtesProcess } from '../../lib/process.js';
import type { Tracing } from '../../lib/tracing.js';
import { createNamespace } from '../../lib/temporal-server.js';
import { installRuntime } from '../../workers/run.js';
import { startTimeSkippingServer } from './time-skipping.js';

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export interface TestUser extends PublicUser {
  password: string;
  token: string;
}

export interface Harness {
  config: Config;
  /** The environment the config was loaded from: a worker process started for this harness gets the same. */
  env: Record<string, string>;
  services: AtesProcess;
  database: Database;
  apiUrl: string;
  namespace: string;
  databaseUrl: string;
  request<T = any>(
    method: string,
    path: string,
    options?: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> },
  ): Promise<ApiResponse<T>>;
  /** Creates an active user of the role and logs them in over HTTP. */
  user(role: Role, name?: string): Promise<TestUser>;
  /** Only with `timeSkipping`: moves the test server's clock forward (due timers fire), and reads it. */
  time?: { skip(ms: number): Promise<void>; now(): Promise<number> };
  stop(): Promise<void>;
}

export async function createTestDatabase(): Promise<string> {
  const serverUrl = inject('postgresUrl');
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database "${name}" template "${inject('templateDatabase')}"`);
  await admin.end();
  return serverUrl.replace(/\/postgres$/, `/${name}`);
}

export async function createTestNamespace(address: string): Promise<string> {
  const namespace = `t-${randomBytes(6).toString('hex')}`;
  const connection = await Connection.connect({ address });
  try {
    await createNamespace(connection, namespace);
  } finally {
    await connection.close();
  }
  return namespace;
}

export async function startHarness(
  options: {
    env?: Record<string, string>;
    workerContexts?: ContextName[];
    /** Runs on a time-skipping test server of its own instead of the shared dev server (see `time`). */
    timeSkipping?: boolean;
    /** Creates the daily billing Schedule and opens today's billing day (off by default: days close at midnight). */
    billingSchedule?: boolean;
    /** The test process's tracing (`startTracing` with the test's span processor): the workers run the traced bundle. */
    tracing?: Tracing;
  } = {},
): Promise<Harness> {
  const log = createLogger('warn', 'test');
  if (options.timeSkipping) installRuntime(log); // the test environment would otherwise install the SDK's default
  const timeSkipping = options.timeSkipping ? await startTimeSkippingServer() : undefined;
  const temporalAddress = timeSkipping?.address ?? inject('temporalAddress');
  const [databaseUrl, namespace] = await Promise.all([
    createTestDatabase(),
    timeSkipping ? timeSkipping.namespace ?? 'default' : createTestNamespace(temporalAddress),
  ]);
  const env: Record<string, string> = {
    PORT: '0',
    LOG_LEVEL: 'warn',
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_NAMESPACE: namespace,
    JWT_SECRET: randomBytes(32).toString('hex'),
    ...options.env,
  };
  const config = loadConfig(env);
  const services = await startProcess({
    config,
    databaseUrl,
    temporalAddress,
    jwtSecret: config.jwt.secret!,
    log,
    api: true,
    workerContexts: options.workerContexts ?? contexts,
    bundle: { code: readFileSync(inject(options.tracing ? 'tracedWorkflowBundlePath' : 'workflowBundlePath'), 'utf8') },
    billingSchedule: options.billingSchedule ?? false,
    tracing: options.tracing,
  });
  const database = openDatabase(databaseUrl, { max: 5 });
  const apiUrl = services.apiUrl!;

  const request: Harness['request'] = async (method, path, { token, body, rawBody, headers = {} } = {}) => {
    const response = await fetch(`${apiUrl}${path}`, {
      method,
      headers: {
        ...(body !== undefined || rawBody !== undefined ? { 'Content-Type': 'application/json' } : {}),
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      body: rawBody ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, headers: response.headers, body: parsed as any };
  };

  return {
    config,
    env,
    services,
    database,
    apiUrl,
    namespace,
    databaseUrl,
    request,
    async user(role, name) {
      const password = `pw-${randomUUID()}`;
      const email = `${role}-${randomUUID().slice(0, 8)}@test.local`;
      const user = await createUser(database.db, { name: name ?? `${role} ${email}`, email, role, password });
      const login = await request('POST', '/auth/login', { body: { email, password } });
      if (login.status !== 200) throw new Error(`login failed: ${JSON.stringify(login.body)}`);
      return { ...user, password, token: login.body.token };
    },
    time: timeSkipping && { skip: (ms) => timeSkipping.sleep(ms), now: () => timeSkipping.currentTimeMs() },
    async stop() {
      await services.stop();
      await database.close();
      await timeSkipping?.teardown();
    },
  };
}
