// Case 6: what one task lifecycle (create, assign, complete) costs the servers, for sizing: Temporal state
// transitions, history events and bytes (from each workflow's description), and PostgreSQL statements and WAL bytes
// per database (pg_stat_statements, reset before the lifecycles). On a cluster the Temporal databases are on the
// same PostgreSQL server and are counted too; the dev server keeps its own SQLite file, which no figure here covers.
// The minimal workflow doing the same writes with the fewest round trips is the baseline.
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import postgres from 'postgres';
import { issueWorkflowId } from '../../workflows/messages.js';
import { figure, percentile, sleep, type BenchCase } from '../measure.js';
import { startMinimal } from '../minimal.js';
import { cpuMs } from '../processes.js';
import { startProductStack, type BenchUser } from '../stack.js';

interface DatabaseCost {
  statements: number;
  walBytes: number;
}

/** Statements and WAL bytes per database since the last reset, the statistics' own queries left out. */
async function databaseCosts(sql: postgres.Sql): Promise<Map<string, DatabaseCost>> {
  const rows = await sql<{ database: string; statements: string; wal_bytes: string }[]>`
    select d.datname as database, sum(s.calls)::text as statements, sum(s.wal_bytes)::text as wal_bytes
    from pg_stat_statements s join pg_database d on d.oid = s.dbid
    where s.query not ilike '%pg_stat_statements%'
    group by d.datname`;
  return new Map(rows.map((row) => [row.database, { statements: Number(row.statements), walBytes: Number(row.wal_bytes) }]));
}

/** The statements a database ran most often since the last reset, per lifecycle, their text shortened. */
async function topStatements(sql: postgres.Sql, database: string, lifecycles: number): Promise<string> {
  const rows = await sql<{ calls: string; query: string }[]>`
    select s.calls::text as calls, regexp_replace(s.query, '\\s+', ' ', 'g') as query
    from pg_stat_statements s join pg_database d on d.oid = s.dbid
    where d.datname = ${database} and s.query not ilike '%pg_stat_statements%'
    order by s.calls desc limit 12`;
  return rows.map((row) => `${(Number(row.calls) / lifecycles).toFixed(1)}× ${row.query.slice(0, 90)}`).join('; ');
}

/** Median state transitions, history events and history bytes of finished workflows. */
async function temporalCosts(client: Client, workflowIds: string[]) {
  const described = await Promise.all(
    workflowIds.map(async (id) => {
      const handle = client.workflow.getHandle(id);
      await handle.result();
      const info = (await handle.describe()).raw.workflowExecutionInfo!;
      return { transitions: Number(info.stateTransitionCount), events: Number(info.historyLength), bytes: Number(info.historySizeBytes) };
    }),
  );
  const median = (values: number[]) => percentile(values, 50);
  return {
    transitions: median(described.map((d) => d.transitions)),
    events: median(described.map((d) => d.events)),
    bytes: median(described.map((d) => d.bytes)),
  };
}

export const lifecycleCostCase: BenchCase = {
  name: 'lifecycle cost',
  async run({ env, quick, log }, result) {
    const lifecycles = quick ? 20 : 200;
    Object.assign(result.sizes, { lifecycles });
    const stack = await startProductStack(env, { workers: true });
    const minimal = await startMinimal(env, stack.namespace, stack.databaseUrl);
    const sql = postgres(stack.databaseUrl, { max: 1, onnotice: () => {} });
    try {
      await sql`create extension if not exists pg_stat_statements`;
      const databaseName = new URL(stack.databaseUrl).pathname.slice(1);
      const manager = await stack.user('manager');
      const workers = new Map<string, BenchUser>((await Promise.all(Array.from({ length: 5 }, () => stack.user('worker')))).map((w) => [w.id, w]));
      // Warm both paths first: the first calls build caches and prepare statements.
      const atesLifecycle = async (title: string) => {
        const task = await stack.call('POST', '/tasks', 201, { token: manager.token, body: { title } });
        await stack.call('POST', `/tasks/${task.id}/complete`, 200, { token: workers.get(task.assigneeId)!.token });
        return task.id as string;
      };
      const minimalLifecycle = async (title: string) => {
        const id = randomUUID();
        await minimal.create(id, title);
        await minimal.complete(id);
        return id;
      };
      for (let i = 0; i < 5; i++) await Promise.all([atesLifecycle('Warm-up'), minimalLifecycle('Warm-up')]);

      /** Runs the lifecycles one at a time between two readings of the statistics; answers the per-lifecycle cost. */
      const measure = async (label: string, run: (title: string) => Promise<string>, workflowIdOf: (id: string) => string, client: Client, pids: number[]) => {
        log.info(`lifecycle cost: ${lifecycles} ${label} lifecycles one at a time`);
        // Background work (the billing calendar, pollers) is light; a quiet second keeps it out of the reading.
        await sleep(1000);
        await sql`select pg_stat_statements_reset()`;
        const cpuBefore = pids.map(cpuMs);
        const ids: string[] = [];
        for (let i = 0; i < lifecycles; i++) ids.push(await run(`Cost ${i}`));
        const cpu = pids.map((pid, index) => (cpuMs(pid) - cpuBefore[index]!) / lifecycles);
        const temporal = await temporalCosts(client, ids.map(workflowIdOf));
        const databases = await databaseCosts(sql);
        return { temporal, databases, cpu, top: await topStatements(sql, databaseName, lifecycles) };
      };
      // CPU: the aTES API and worker processes; the minimal workflow has no API (its client is the bench) and its worker.
      const ates = await measure('aTES', atesLifecycle, issueWorkflowId, stack.temporal, [stack.api.child.pid!, stack.workers!.child.pid!]);
      const bare = await measure('minimal', minimalLifecycle, minimal.workflowId, minimal.client, [minimal.worker.child.pid!]);

      const per = (cost: DatabaseCost | undefined, field: keyof DatabaseCost) => (cost?.[field] ?? 0) / lifecycles;
      const temporalDatabases = [...ates.databases.keys()].filter((name) => name.startsWith('temporal'));
      const label = 'minimal workflow, same writes';
      result.figures.push(
        figure('Temporal state transitions per lifecycle', 'transitions', ates.temporal.transitions, bare.temporal.transitions, label),
        figure('history events per lifecycle', 'events', ates.temporal.events, bare.temporal.events, label),
        figure('worker CPU per lifecycle', 'ms', ates.cpu[1]!, bare.cpu[0]!, label),
        figure('history size per lifecycle', 'bytes', ates.temporal.bytes, bare.temporal.bytes, label),
        // The minimal workflow's tables are in the same database: each measure counts only its own lifecycles.
        figure('aTES database statements per lifecycle', 'statements', per(ates.databases.get(databaseName), 'statements'), per(bare.databases.get(databaseName), 'statements'), label),
        figure('aTES database WAL per lifecycle', 'bytes', per(ates.databases.get(databaseName), 'walBytes'), per(bare.databases.get(databaseName), 'walBytes'), label),
        ...temporalDatabases.flatMap((name) => [
          figure(`${name} statements per lifecycle`, 'statements', per(ates.databases.get(name), 'statements'), per(bare.databases.get(name), 'statements'), label),
          figure(`${name} WAL per lifecycle`, 'bytes', per(ates.databases.get(name), 'walBytes'), per(bare.databases.get(name), 'walBytes'), label),
        ]),
      );
      result.notes.push(
        `${lifecycles} lifecycles one at a time per driver; state transitions, events and history bytes are medians of the workflows' descriptions; ` +
          `statements and WAL bytes are pg_stat_statements totals over the run divided by the lifecycles (everything the API, the workers and Temporal sent meanwhile). ` +
          (temporalDatabases.length ? `Temporal's databases: ${temporalDatabases.join(', ')}.` : 'The Temporal dev server keeps its own SQLite store, not counted here.'),
        `CPU per lifecycle (user + system, /proc): aTES worker process ${ates.cpu[1]!.toFixed(1)} ms, aTES API process ${ates.cpu[0]!.toFixed(1)} ms; minimal workflow's worker ${bare.cpu[0]!.toFixed(1)} ms.`,
        `aTES database, statements per lifecycle: ${ates.top}`,
      );
    } finally {
      await sql.end({ timeout: 5 });
      await minimal.stop();
      await stack.stop();
    }
  },
};
