// What a finished workflow's history says about a task lifecycle: how many events it took, of which types, and
// how long the worker held each workflow task (local activities run inside one).
import type { Client } from '@temporalio/client';

type History = Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>;

export interface HistorySummary {
  events: number;
  /** Event type (e.g. `workflowTaskStarted`) → how many. */
  byType: Record<string, number>;
  /** Workflow tasks until the first update completed (creation and assignment), and their time in the worker. */
  create: { workflowTasks: number; workerMs: number; serverSpanMs: number };
  /** Workflow tasks from the one that admitted the second update to that update's completion. */
  complete: { workflowTasks: number; workerMs: number; serverSpanMs: number };
}

const millisOf = (time: NonNullable<History['events']>[number]['eventTime']): number => {
  const seconds = time?.seconds;
  return (typeof seconds === 'number' ? seconds : Number(seconds?.toString() ?? 0)) * 1000 + (time?.nanos ?? 0) / 1e6;
};

/** `workflowTaskStartedEventAttributes` → `workflowTaskStarted`: the one attributes field an event has set. */
const typeOf = (event: NonNullable<History['events']>[number]): string => {
  const key = Object.keys(event).find((name) => name.endsWith('EventAttributes') && (event as Record<string, unknown>)[name] != null);
  return key ? key.slice(0, -'EventAttributes'.length) : 'unknown';
};

/** Waits for the workflow to close, then reads its whole history. */
export async function finishedHistory(client: Client, workflowId: string): Promise<HistorySummary> {
  const handle = client.workflow.getHandle(workflowId);
  await handle.result();
  return summarize(await handle.fetchHistory());
}

export function summarize(history: History): HistorySummary {
  const events = (history.events ?? []).map((event) => ({ type: typeOf(event), at: millisOf(event.eventTime) }));
  const byType: Record<string, number> = {};
  for (const { type } of events) byType[type] = (byType[type] ?? 0) + 1;
  const updatesDone = events.flatMap((event, index) => (event.type === 'workflowExecutionUpdateCompleted' ? [index] : []));
  const updatesAccepted = events.flatMap((event, index) => (event.type === 'workflowExecutionUpdateAccepted' ? [index] : []));
  const phase = (from: number, to: number) => {
    let workflowTasks = 0;
    let workerMs = 0;
    let started: number | undefined;
    for (const event of events.slice(from, to + 1)) {
      if (event.type === 'workflowTaskStarted') started = event.at;
      else if (event.type === 'workflowTaskCompleted' && started !== undefined) {
        workflowTasks++;
        workerMs += event.at - started;
        started = undefined;
      }
    }
    return { workflowTasks, workerMs, serverSpanMs: from <= to && events[to] && events[from] ? events[to]!.at - events[from]!.at : Number.NaN };
  };
  const createEnd = updatesDone[0] ?? events.length - 1;
  let completeStart = updatesAccepted[1] ?? createEnd + 1;
  while (completeStart > createEnd + 1 && events[completeStart]?.type !== 'workflowTaskScheduled') completeStart--;
  const completeEnd = updatesDone[1] ?? events.length - 1;
  return { events: events.length, byType, create: phase(0, createEnd), complete: phase(completeStart, completeEnd) };
}
