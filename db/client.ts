import { SpanKind, SpanStatusCode, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import * as schema from './schema/index.js';

export type Db = PostgresJsDatabase<typeof schema>;
/** An open transaction. */
export type Transaction = Parameters<Parameters<Db['transaction']>[0]>[0];
/** A database handle or an open transaction: repositories accept either. */
export type Tx = Transaction | Db;

export interface Database {
  db: Db;
  sql: postgres.Sql;
  close(): Promise<void>;
}

/**
 * `tracer` (lib/tracing.ts, only when tracing is on): every `transaction` of this database is a span, and every
 * query drizzle sends a child span of whatever is current (the transaction, an activity, an HTTP request).
 */
export function openDatabase(url: string, options: { max?: number; tracer?: Tracer } = {}): Database {
  const sql = postgres(url, { max: options.max ?? 10, onnotice: () => {}, connection: { application_name: 'ates' } });
  if (!options.tracer) return { db: drizzle(sql, { schema }), sql, close: () => sql.end({ timeout: 5 }) };
  const attributes: Attributes = { 'db.system': 'postgresql', 'db.namespace': decodeURIComponent(new URL(url).pathname.slice(1)) };
  const db = drizzle(tracedSql(sql, options.tracer, attributes), { schema });
  tracedDatabases.set(db, { tracer: options.tracer, attributes });
  return { db, sql, close: () => sql.end({ timeout: 5 }) };
}

type TransactionConfig = Parameters<Db['transaction']>[1];

/**
 * Runs `work` in one transaction of `db`. `name` says what it is in the product's terms (`issue.step`,
 * `ledger.entry`): with tracing on it is the span `db.transaction <name>`, which holds the transaction's queries.
 * Every transaction the product opens goes through here (eslint.config.js).
 */
export function transaction<T>(db: Tx, name: string, work: (tx: Transaction) => Promise<T>, config?: TransactionConfig): Promise<T> {
  const traced = tracedDatabases.get(db);
  if (!traced) return db.transaction(work, config);
  return traced.tracer.startActiveSpan(
    `db.transaction ${name}`,
    { kind: SpanKind.CLIENT, attributes: { ...traced.attributes, 'db.operation.name': 'transaction', 'ates.transaction': name } },
    async (span) => {
      try {
        return await db.transaction(work, config);
      } catch (error) {
        failed(span, error);
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

const tracedDatabases = new WeakMap<Tx, { tracer: Tracer; attributes: Attributes }>();

const failed = (span: Span, error: unknown) => {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
};

/**
 * What a statement does and to which table, as OpenTelemetry names a query span: `SELECT issues`, `INSERT ledger_entries`.
 * A statement whose WITH clause writes is named by what it writes: `INSERT ledger_entries accounts domain_events`.
 */
export function querySummary(text: string): { operation: string; table?: string } {
  const operation = /^\s*(\w+)/.exec(text)?.[1]?.toUpperCase() ?? 'QUERY';
  if (operation === 'WITH') {
    // `do update` (an upsert) and `for update` (a lock) name no table of their own.
    const writes = [...text.matchAll(/(?<!\b(?:do|for)\s+)\b(insert\s+into|update|delete\s+from)\s+"?([\w.]+)/gi)];
    if (writes.length > 0) {
      const tables = [...new Set(writes.map((write) => write[2]!))];
      return { operation: writes[0]![1]!.split(/\s/)[0]!.toUpperCase(), table: tables.join(' ') };
    }
    return { operation: 'SELECT', table: /\bfrom\s+"?([\w.]+)/i.exec(text)?.[1] };
  }
  const table =
    operation === 'INSERT' ? /^\s*insert\s+into\s+"?([\w.]+)/i.exec(text)?.[1]
    : operation === 'UPDATE' ? /^\s*update\s+"?([\w.]+)/i.exec(text)?.[1]
    : operation === 'DELETE' ? /^\s*delete\s+from\s+"?([\w.]+)/i.exec(text)?.[1]
    : /\bfrom\s+"?([\w.]+)/i.exec(text)?.[1];
  return { operation, table };
}

/** The query object postgres.js answers (a Promise it settles itself through these two). */
interface SettledByPostgres {
  resolve?: (value: unknown) => unknown;
  reject?: (error: unknown) => unknown;
}

/**
 * The postgres.js client as drizzle sees it, with a span per query (`unsafe` is how drizzle sends every statement) and
 * the same for the client of each transaction and savepoint. The span ends when postgres.js settles the query, so
 * it covers the wait for a pooled connection too; postgres.js has no hook of its own for that (its `debug` option
 * only sees a query leave, and makes an Error per query).
 */
function tracedSql<S extends postgres.Sql | postgres.TransactionSql>(sql: S, tracer: Tracer, attributes: Attributes): S {
  const unsafe = (text: string, ...rest: unknown[]) => {
    const query = (sql.unsafe as (...args: unknown[]) => postgres.PendingQuery<postgres.Row[]>)(text, ...rest);
    const settle = query as unknown as SettledByPostgres;
    const { resolve, reject } = settle;
    // A postgres.js that settles its queries some other way: no span rather than one that never ends.
    if (typeof resolve !== 'function' || typeof reject !== 'function') return query;
    const { operation, table } = querySummary(text);
    const span = tracer.startSpan(table ? `${operation} ${table}` : operation, {
      kind: SpanKind.CLIENT,
      attributes: { ...attributes, 'db.operation.name': operation, ...(table ? { 'db.collection.name': table } : {}), 'db.query.text': text },
    });
    settle.resolve = (value) => {
      span.end();
      return resolve(value);
    };
    settle.reject = (error) => {
      failed(span, error);
      span.end();
      return reject(error);
    };
    return query;
  };
  const withTracedClient =
    (open: (...args: unknown[]) => unknown) =>
    (...args: unknown[]) => {
      const work = args.pop() as (client: postgres.TransactionSql) => unknown;
      return open(...args, (client: postgres.TransactionSql) => work(tracedSql(client, tracer, attributes)));
    };
  return new Proxy(sql, {
    get(target, property, receiver) {
      if (property === 'unsafe') return unsafe;
      if (property === 'begin' || property === 'savepoint') return withTracedClient(Reflect.get(target, property, receiver) as (...args: unknown[]) => unknown);
      return Reflect.get(target, property, receiver);
    },
  });
}

export const migrationsFolder = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

export async function migrateDatabase(url: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await migrate(drizzle(sql), { migrationsFolder });
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** PostgreSQL's unique_violation, wherever the driver or drizzle wrapped it. */
export const isUniqueViolation = (error: unknown): boolean => {
  for (let e: unknown = error; e instanceof Error; e = e.cause) if ((e as { code?: unknown }).code === '23505') return true;
  return false;
};
