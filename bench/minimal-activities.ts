// The minimal baseline's activities: real writes to the bench's own tables in the case's database, each one
// statement (one transaction, one round trip), each idempotent under a retry of its local activity.
import type postgres from 'postgres';

/** The tables of the minimal baseline, beside aTES's own in the same database (the workers are aTES's users). */
export const minimalSchema = `
  create table if not exists bench_minimal_tasks (
    id uuid primary key,
    title text not null,
    assignee_id uuid not null,
    assign_fee_cents integer not null,
    reward_cents integer not null,
    status text not null default 'open',
    created_at timestamptz not null default now(),
    completed_at timestamptz
  );
  create table if not exists bench_minimal_ledger (
    id bigserial primary key,
    key text not null unique,
    user_id uuid not null,
    task_id uuid not null,
    kind text not null,
    amount_cents integer not null,
    created_at timestamptz not null default now()
  );
  create table if not exists bench_minimal_notifications (
    id bigserial primary key,
    key text not null unique,
    user_id uuid not null,
    task_id uuid not null,
    title text not null,
    created_at timestamptz not null default now()
  );`;

export function createMinimalActivities(sql: postgres.Sql) {
  return {
    /** Inserts the task with a random active worker; a retry finds the row and answers the worker chosen first. */
    async createTask(input: { id: string; title: string; assignFeeCents: number; rewardCents: number }): Promise<{ assigneeId: string }> {
      const [row] = await sql<{ assignee_id: string }[]>`
        insert into bench_minimal_tasks (id, title, assignee_id, assign_fee_cents, reward_cents)
        select ${input.id}, ${input.title}, w.id, ${input.assignFeeCents}, ${input.rewardCents}
        from (select id from users where role = 'worker' and status = 'active' order by random() limit 1) w
        on conflict (id) do update set title = excluded.title
        returning assignee_id`;
      if (!row) throw new Error('no active worker to assign');
      return { assigneeId: row.assignee_id };
    },

    /** The assignment fee on the worker's ledger and the worker's notification, together. */
    async chargeAssignFee(input: { id: string; title: string; assigneeId: string; assignFeeCents: number }): Promise<void> {
      await sql`
        with fee as (
          insert into bench_minimal_ledger (key, user_id, task_id, kind, amount_cents)
          values (${`${input.id}:assign_fee`}, ${input.assigneeId}, ${input.id}, 'assign_fee', ${-input.assignFeeCents})
          on conflict (key) do nothing
        )
        insert into bench_minimal_notifications (key, user_id, task_id, title)
        values (${`${input.id}:assigned`}, ${input.assigneeId}, ${input.id}, ${`New task: ${input.title}`})
        on conflict (key) do nothing`;
    },

    /** The reward on the worker's ledger and the task marked done, together. */
    async completeTask(input: { id: string; assigneeId: string; rewardCents: number }): Promise<void> {
      await sql`
        with reward as (
          insert into bench_minimal_ledger (key, user_id, task_id, kind, amount_cents)
          values (${`${input.id}:reward`}, ${input.assigneeId}, ${input.id}, 'reward', ${input.rewardCents})
          on conflict (key) do nothing
        )
        update bench_minimal_tasks set status = 'done', completed_at = coalesce(completed_at, now()) where id = ${input.id}`;
    },
  };
}

export type MinimalActivities = ReturnType<typeof createMinimalActivities>;
