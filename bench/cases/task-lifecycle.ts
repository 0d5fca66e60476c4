// Case 1: tasks created (POST /tasks) and completed by their assignee (POST /tasks/:id/complete), at concurrency C
// and one at a time, then GET /issues/:id and the Temporal history of a lifecycle. Two baselines on the same
// servers in the same run: the minimal workflow (bench/minimal-workflow.ts: the same kind of writes with the
// fewest round trips, called with the Temporal client directly) and the bare workflow of the old shape
// (bench/baseline-workflow.ts: the old round trips with no-op activities).
import { randomUUID } from 'node:crypto';
import { and, count, eq } from 'drizzle-orm';
import { issues } from '../../db/schema/issues.js';
import { issueWorkflowId } from '../../workflows/messages.js';
import { startBaseline, type Baseline } from '../baseline.js';
import { finishedHistory, type HistorySummary } from '../histories.js';
import { figure, inLanes, percentile, since, timed, type BenchCase } from '../measure.js';
import { startMinimal, type Minimal } from '../minimal.js';
import { untilMachineQuiet } from '../processes.js';
import { startProductStack, type BenchUser } from '../stack.js';

/** One way of running a task's lifecycle: aTES over HTTP, or a baseline over the Temporal client. */
interface Lifecycle {
  label: string;
  /** Creates task `index`, answering its id once the call has answered. */
  create(index: number): Promise<string>;
  complete(id: string): Promise<void>;
  /** The id of the task's workflow. */
  workflowId(id: string): string;
}

interface Run {
  create: number[];
  complete: number[];
  ms: number;
  ids: string[];
}

/** `n` lifecycles at `concurrency`; each call timed. */
async function lifecycles(driver: Lifecycle, n: number, concurrency: number): Promise<Run> {
  const run: Run = { create: [], complete: [], ms: 0, ids: [] };
  const start = performance.now();
  await inLanes(n, concurrency, async (index) => {
    const id = await timed(run.create, () => driver.create(index));
    run.ids.push(id);
    await timed(run.complete, () => driver.complete(id));
  });
  run.ms = since(start);
  return run;
}

const median = (values: number[]) => percentile(values, 50);

/** One line of a driver's histories: events by type, and what the worker spent per create and per complete. */
function describeHistories(label: string, summaries: HistorySummary[]): string {
  const first = summaries[0]!;
  const counts = summaries.map((s) => s.events);
  const same = counts.every((n) => n === first.events);
  const types = Object.entries(first.byType)
    .map(([type, n]) => `${type} ${n}`)
    .join(', ');
  const phase = (name: 'create' | 'complete') =>
    `${name}: ${median(summaries.map((s) => s[name].workflowTasks))} workflow tasks, ` +
    `${median(summaries.map((s) => s[name].workerMs)).toFixed(1)} ms in the worker, ${median(summaries.map((s) => s[name].serverSpanMs)).toFixed(1)} ms from first to last event`;
  return (
    `${label} history (${summaries.length} sequential lifecycles, medians): ${same ? first.events : `${Math.min(...counts)}–${Math.max(...counts)}`} events ` +
    `(${types}); ${phase('create')}; ${phase('complete')}`
  );
}

export const taskLifecycleCase: BenchCase = {
  name: 'task lifecycle',
  async run({ env, quick, log }, result) {
    const tasks = quick ? 40 : 500;
    const concurrency = quick ? 8 : 16;
    const warmUp = quick ? 10 : 50;
    const sequential = quick ? 20 : 100;
    const sequentialWarmUp = 5;
    const gets = 50;
    const getWarmUp = 10;
    const workerCount = 10;
    Object.assign(result.sizes, { tasks, concurrency, warmUp, sequential, gets, workers: workerCount });

    const stack = await startProductStack(env, { workers: true });
    let minimal: Minimal | undefined;
    let bare: Baseline | undefined;
    try {
      const manager = await stack.user('manager');
      const workers = await Promise.all(Array.from({ length: workerCount }, () => stack.user('worker')));
      const byId = new Map<string, BenchUser>(workers.map((worker) => [worker.id, worker]));
      const assigneeOf = new Map<string, BenchUser>();
      const benchWorker = (taskId: string, userId: string) => {
        const assignee = byId.get(userId);
        if (!assignee) throw new Error(`task ${taskId} was assigned to ${userId}, not one of the bench's workers`);
        return assignee;
      };

      // Both baselines' workers run from the start, so every run shares the machine with the same processes.
      [minimal, bare] = await Promise.all([startMinimal(env, stack.namespace, stack.databaseUrl), startBaseline(env, stack.namespace)]);
      const min = minimal;
      const old = bare;

      const ates: Lifecycle = {
        label: 'aTES',
        async create(index) {
          const task = await stack.call('POST', '/tasks', 201, { token: manager.token, body: { title: `Bench task ${index}` } });
          assigneeOf.set(task.id, benchWorker(task.id, task.assigneeId));
          return task.id;
        },
        async complete(id) {
          await stack.call('POST', `/tasks/${id}/complete`, 200, { token: assigneeOf.get(id)!.token });
        },
        workflowId: issueWorkflowId,
      };
      const minimalLifecycle: Lifecycle = {
        label: 'minimal',
        async create(index) {
          const id = randomUUID();
          const task = await min.create(id, `Bench task ${index}`);
          benchWorker(id, task.assigneeId);
          return id;
        },
        async complete(id) {
          const task = await min.complete(id);
          if (task.status !== 'done') throw new Error(`minimal task ${id} is ${task.status} after its completion`);
        },
        workflowId: min.workflowId,
      };
      const bareLifecycle: Lifecycle = {
        label: 'bare',
        async create() {
          const id = randomUUID();
          await old.create(id);
          return id;
        },
        complete: (id) => old.step(id, 'complete'),
        workflowId: old.workflowId,
      };
      const drivers = [ates, minimalLifecycle, bareLifecycle] as const;

      const concurrent: Run[] = [];
      for (const driver of drivers) {
        log.info(`task lifecycle: ${driver.label}, ${warmUp} warm-up + ${tasks} tasks at concurrency ${concurrency}`);
        await lifecycles(driver, warmUp, concurrency);
        concurrent.push(await lifecycles(driver, tasks, concurrency));
      }
      const oneByOne: Run[] = [];
      for (const driver of drivers) {
        // One call at a time measures latency, which the servers' leftovers from the phase before would add to.
        const waitedMs = await untilMachineQuiet();
        log.info(`task lifecycle: ${driver.label}, ${sequentialWarmUp} warm-up + ${sequential} tasks one at a time (after ${(waitedMs / 1000).toFixed(1)} s for a quiet machine)`);
        await lifecycles(driver, sequentialWarmUp, 1);
        oneByOne.push(await lifecycles(driver, sequential, 1));
      }

      const lifecyclesRun = warmUp + tasks + sequentialWarmUp + sequential;
      const [done] = await stack.database.db
        .select({ n: count() })
        .from(issues)
        .where(and(eq(issues.typeKey, 'task'), eq(issues.status, 'done')));
      if (done!.n !== lifecyclesRun) throw new Error(`expected ${lifecyclesRun} done tasks in the read model, found ${done!.n}`);
      const [written] = await min.sql<{ done: number; fees: number; rewards: number; notifications: number }[]>`
        select (select count(*) from bench_minimal_tasks where status = 'done')::int as done,
               (select count(*) from bench_minimal_ledger where kind = 'assign_fee')::int as fees,
               (select count(*) from bench_minimal_ledger where kind = 'reward')::int as rewards,
               (select count(*) from bench_minimal_notifications)::int as notifications`;
      for (const [what, n] of Object.entries(written!)) {
        if (n !== lifecyclesRun) throw new Error(`expected ${lifecyclesRun} ${what} rows of the minimal baseline, found ${n}`);
      }

      log.info(`task lifecycle: GET /issues/:id, ${getWarmUp} warm-up + ${gets} requests one at a time, open and done`);
      const getSamples = async (call: () => Promise<unknown>) => {
        const samples: number[] = [];
        for (let i = 0; i < getWarmUp; i++) await call();
        for (let i = 0; i < gets; i++) await timed(samples, call);
        return samples;
      };
      const atesTask = await ates.create(-1);
      const minimalTask = await minimalLifecycle.create(-1);
      const readAsAssignee = (state: string) => async () => {
        const issue = await stack.call('GET', `/issues/${atesTask}`, 200, { token: assigneeOf.get(atesTask)!.token });
        if (issue.state !== state) throw new Error(`GET /issues/${atesTask}: expected state ${state}, got ${issue.state}`);
      };
      const selectRow = (status: string) => async () => {
        const [row] = await min.sql`select * from bench_minimal_tasks where id = ${minimalTask}`;
        if (row?.status !== status) throw new Error(`minimal task ${minimalTask} is not ${status}`);
      };
      const atesOpen = await getSamples(readAsAssignee('open'));
      const minimalOpen = await getSamples(selectRow('open'));
      const minimalQuery = await getSamples(async () => {
        if ((await min.query(minimalTask))?.status !== 'open') throw new Error(`minimal task ${minimalTask} is not open`);
      });
      await ates.complete(atesTask);
      await minimalLifecycle.complete(minimalTask);
      const atesDone = await getSamples(readAsAssignee('done'));
      const minimalDone = await getSamples(selectRow('done'));

      log.info('task lifecycle: histories of the sequential lifecycles');
      const histories = await Promise.all(
        drivers.map((driver, index) => {
          const client = driver === ates ? stack.temporal : driver === minimalLifecycle ? min.client : old.client;
          return Promise.all(oneByOne[index]!.ids.map((id) => finishedHistory(client, driver.workflowId(id))));
        }),
      );

      const [product, minimalRun, bareRun] = concurrent as [Run, Run, Run];
      const minimalLabel = 'minimal';
      const bareLabel = 'bare, old shape';
      const both = (value: number, minimalValue: number, bareValue: number, options: { difference?: boolean } = {}) =>
        [value, minimalValue, minimalLabel, { ...options, other: { value: bareValue, label: bareLabel } }] as const;
      result.figures.push(
        figure(`throughput (c=${concurrency})`, 'tasks/s', ...both((tasks * 1000) / product.ms, (tasks * 1000) / minimalRun.ms, (tasks * 1000) / bareRun.ms)),
      );
      for (const [runs, c] of [
        [concurrent, concurrency],
        [oneByOne, 1],
      ] as const) {
        for (const call of ['create', 'complete'] as const) {
          const name = call === 'create' ? 'POST /tasks' : 'POST /tasks/:id/complete';
          for (const p of [50, 99]) {
            const [a, m, b] = runs.map((run) => percentile(run[call], p)) as [number, number, number];
            result.figures.push(figure(`${name} p${p} (c=${c})`, 'ms', ...both(a, m, b, { difference: true })));
          }
        }
      }
      for (const [state, a, m, q] of [
        ['open', atesOpen, minimalOpen, minimalQuery],
        ['done', atesDone, minimalDone, undefined],
      ] as const) {
        for (const p of [50, 99]) {
          const other = q && { value: percentile(q, p), label: 'minimal: workflow query' };
          result.figures.push(
            figure(`GET /issues/:id ${state} p${p} (c=1)`, 'ms', percentile(a, p), percentile(m, p), 'minimal: row select', { difference: true, ...(other ? { other } : {}) }),
          );
        }
      }
      const [atesHistories, minimalHistories, bareHistories] = histories as [HistorySummary[], HistorySummary[], HistorySummary[]];
      const events = (summaries: HistorySummary[]) => median(summaries.map((s) => s.events));
      result.figures.push(
        figure('Temporal history events per task lifecycle', 'events', ...both(events(atesHistories), events(minimalHistories), events(bareHistories), { difference: true })),
      );

      result.notes.push(
        'minimal: a hand-written task workflow called from the bench process with the Temporal client directly (no HTTP hop, API or ' +
          'authentication), on the same Temporal server and PostgreSQL database, its own worker process and task queue: create = ' +
          'update-with-start answered after 2 local activities (task row with a random active worker; assignment-fee ledger row and ' +
          'notification), complete = 1 update running 1 local activity (reward ledger row, task done); each activity is one SQL ' +
          'statement (one transaction) on the bench_minimal_* tables, money rows under a unique key',
        'bare, old shape: the bare workflow with the old round trips and no-op activities (per task: 4 activities, one in the ' +
          'background, and 3 local activities), also over the Temporal client; ratios and differences are against minimal',
        `c=${concurrency}: ${tasks} lifecycles after ${warmUp} warm-up; c=1: ${sequential} lifecycles one at a time after ${sequentialWarmUp} warm-up; ` +
          'aTES calls go over HTTP to the API process, which calls Temporal',
        `GET /issues/:id: ${gets} requests one at a time as the assignee after ${getWarmUp} warm-up, of one open and then one done ` +
          'task, over HTTP as the API answers it; minimal: a select of the task row from the bench process and, for the open task, ' +
          'a query of its workflow from the client',
        describeHistories('aTES', atesHistories),
        describeHistories('minimal', minimalHistories),
        describeHistories('bare', bareHistories),
      );
    } finally {
      await minimal?.stop();
      await bare?.stop();
      await stack.stop();
    }
  },
};
