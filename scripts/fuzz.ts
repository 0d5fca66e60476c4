// `npm run fuzz`: runs schemathesis against the OpenAPI document of a freshly started product, once per role
// (and once without a token). Any 5xx, any answer the document does not describe, any request unanswered after
// `requestTimeoutS` and any poison accepted (scripts/fuzz_hooks.py) fails the run, and so does a run that sent
// no poison at all.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { openDatabase } from '../db/client.js';
import { loginThrottles, roles, users, type Role } from '../db/schema/auth.js';
import { createUser } from '../lib/auth/users.js';
import { contexts, loadConfig, type Config } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { ensureDatabase, ensureTemporal, type Resource } from '../lib/runtime.js';
import { startProcess, type AtesProcess } from '../lib/process.js';
import { migrateWithBuiltinTypes, scratchFolder } from '../lib/stack.js';
import { freePort } from '../lib/ports.js';
import { loadWorkflowBundle } from '../workers/run.js';

/**
 * Bounded so CI stays within a few minutes; the seed (with no example database carried between runs) makes a
 * failure reproducible. No stateful phase: chains of creations are unbounded work for the workers.
 */
const maxExamples = 15;
const seed = 20240601;
const phases = ['examples', 'coverage', 'fuzzing'];
/** `poison_refused` is scripts/fuzz_hooks.py's: a JSON body or a declared parameter with poison in it never gets a 2xx. */
const checks = ['not_a_server_error', 'status_code_conformance', 'content_type_conformance', 'response_schema_conformance', 'poison_refused'];
/**
 * Poison input (lone surrogates, NUL, JSON nested 65–5000 levels) in about a third of the fuzzing phase's
 * requests, and their count: schemathesis itself generates well-formed UTF-8 only.
 */
const hooks = path.resolve('scripts', 'fuzz_hooks.py');
/** Where the hooks write their counts, in schemathesis' working folder. */
const poisonReport = 'fuzz-poison.json';
/**
 * Any request unanswered after this long fails the run as hung. Far below the API's own bound (75 s, api/app.ts
 * `answerInTime`, for an issue recovering from a worker failure, which no fuzz run has): nothing a fuzz run asks
 * takes more than a second or two, and a hung request costs the run this much per retry.
 */
const requestTimeoutS = 20;
/** An endless Server-Sent Events stream cannot be read to its end; the authorization matrix test covers it. */
const excludedPaths = ['/notifications/stream'];

/** Pinned: the same seed generates the same cases only with the same version (.ci/run installs this one). */
const schemathesisRequirement = 'schemathesis==4.32.5';
const venv = path.resolve('.tools', 'venv');
const schemathesis = path.join(venv, 'bin', 'schemathesis');

/** The CLI from PyPI in the project's venv, installed there on first use (CI installs it up front). */
function ensureSchemathesis(): void {
  if (existsSync(schemathesis)) return;
  const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'inherit' }).status === 0;
  const pip = path.join(venv, 'bin', 'pip');
  if (!(existsSync(pip) || run('python3', ['-m', 'venv', venv])) || !run(pip, ['install', '-q', schemathesisRequirement])) {
    throw new Error(`could not install schemathesis into ${venv}: it needs python3 and PyPI`);
  }
}

function runSchemathesis(apiUrl: string, who: string, token: string | undefined, cwd: string): Promise<number> {
  // The hooks are named in a configuration file rather than the environment (which lib/config.ts alone reads).
  const config = path.join(cwd, 'schemathesis.toml');
  writeFileSync(config, `hooks = ${JSON.stringify(hooks)}\n`);
  rmSync(path.join(cwd, poisonReport), { force: true });
  const args = ['--config-file', config, 'run', `${apiUrl}/openapi.json`, '--checks', checks.join(','), '--max-examples', String(maxExamples)];
  args.push('--seed', String(seed), '--generation-database', 'none', '--phases', phases.join(','));
  // One worker: hypothesis's lambda introspection is not thread-safe and errs under several.
  args.push('--request-timeout', String(requestTimeoutS), '--workers', '1', '--no-color');
  for (const excluded of excludedPaths) args.push('--exclude-path', excluded);
  if (token) args.push('--header', `Authorization: Bearer ${token}`);
  console.log(`\n=== schemathesis as ${who} ===`);
  return new Promise((resolve, reject) => {
    const child = spawn(schemathesis, args, { cwd, stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

async function main(): Promise<number> {
  ensureSchemathesis();
  const scratch = scratchFolder('fuzz');
  const base = loadConfig();
  const config: Config = {
    ...base,
    logLevel: 'warn',
    http: { host: '127.0.0.1', port: 0 },
    dataDir: scratch,
    // Always a throwaway database and Temporal: fuzzing writes junk.
    database: { url: undefined, embeddedPort: await freePort() },
    temporal: { ...base.temporal, address: undefined, namespace: 'default', port: await freePort(), uiPort: await freePort() },
    jwt: { ...base.jwt, secret: randomBytes(32).toString('hex') },
  };
  const log = createLogger(config.logLevel, 'fuzz', config.logFormat);
  const started: Resource<unknown>[] = [];
  let services: AtesProcess | undefined;
  try {
    const database = await ensureDatabase(config, log);
    started.push(database);
    await migrateWithBuiltinTypes(database.value);
    const temporal = await ensureTemporal(config, log);
    started.push(temporal);
    const db = openDatabase(database.value, { max: 2 });
    started.push({ value: db, stop: () => db.close() });
    services = await startProcess({
      config,
      databaseUrl: database.value,
      temporalAddress: temporal.value.address,
      jwtSecret: config.jwt.secret!,
      log,
      api: true,
      workerContexts: contexts,
      bundle: await loadWorkflowBundle(config.workers.bundlePath),
    });
    const apiUrl = services.apiUrl!;

    const failed: string[] = [];
    let poisonSent = 0;
    for (const who of ['anonymous', ...roles] as const) {
      // Each role's user is made just before its own run: schemathesis reuses ids it saw in answers, so a run as
      // admin may change the role of, or deactivate, any user made before it, and a later run would not be as named.
      const user = who === 'anonymous' ? undefined : await signIn(db.db, apiUrl, who);
      const started = Date.now();
      const code = await runSchemathesis(apiUrl, who, user?.token, scratch);
      const poison = readPoisonReport(path.join(scratch, poisonReport));
      poisonSent += poison?.poison ?? 0;
      console.log(`=== ${who}: ${code === 0 ? 'passed' : `FAILED (exit ${code})`} in ${((Date.now() - started) / 1000).toFixed(0)} s ===`);
      console.log(`=== ${who}: ${describePoison(poison)} ===`);
      if (user) {
        // A run may still change its own user (an admin may demote itself): said, so the role above is read right.
        const [row] = await db.db.select({ role: users.role, status: users.status }).from(users).where(eq(users.id, user.id));
        if (row?.role !== who || row.status !== 'active') console.log(`=== ${who}: its own run left the user ${row?.status} as ${row?.role} ===`);
      }
      if (code !== 0 || !poison?.poison) failed.push(who);
    }
    console.log(`\npoison requests sent: ${poisonSent} in all`);
    console.log(failed.length ? `\nfuzzing failed as: ${failed.join(', ')}` : '\nfuzzing passed for every role');
    return failed.length ? 1 : 0;
  } finally {
    await services?.stop();
    for (const resource of started.reverse()) await resource.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** What scripts/fuzz_hooks.py counted in one schemathesis run: every request, and those that carried poison. */
interface PoisonReport {
  requests: number;
  poison: number;
  kinds: Record<string, number>;
  answers: Record<string, number>;
  /** Why the 422s among them refused: the edge check's reason (surrogate, nul, deep) or `schema`. */
  refusals: Record<string, number>;
  slowest: { seconds: number; request: string };
}

function readPoisonReport(file: string): PoisonReport | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PoisonReport;
  } catch {
    return undefined;
  }
}

function describePoison(report: PoisonReport | undefined): string {
  if (!report) return 'NO poison report: the hooks (scripts/fuzz_hooks.py) did not run';
  if (!report.poison) return `NO poison sent among ${report.requests} requests`;
  const list = (counts: Record<string, number>) => Object.entries(counts).map(([key, n]) => `${key} ${n}`).join(', ');
  return (
    `${report.poison} of ${report.requests} requests carried poison (${list(report.kinds)}); answered ${list(report.answers)}; ` +
    `422 for ${list(report.refusals)}; slowest answer ${report.slowest.seconds.toFixed(1)} s (${report.slowest.request})`
  );
}

/** A fresh active user of the role, logged in over HTTP like any client. */
async function signIn(db: Parameters<typeof createUser>[0], apiUrl: string, role: Role): Promise<{ id: string; token: string }> {
  // The runs before sent many wrong logins from this same address, which is throttled by now (lib/auth/login-throttle.ts):
  // each role signs in as if from a client of its own.
  await db.delete(loginThrottles);
  const email = `fuzz-${role}-${randomUUID().slice(0, 8)}@fuzz.local`;
  const password = randomBytes(16).toString('hex');
  const user = await createUser(db, { name: `Fuzz ${role}`, email, role, password });
  const response = await fetch(`${apiUrl}/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  if (!response.ok) throw new Error(`login as ${role} failed: ${response.status} ${await response.text()}`);
  return { id: user.id, token: ((await response.json()) as { token: string }).token };
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
