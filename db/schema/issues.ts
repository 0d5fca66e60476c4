import { sql } from 'drizzle-orm';
import { index, integer, jsonb, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/** Issue types: every save of a key is a new version; running issues keep the version they started with. */
export const issueTypes = pgTable(
  'issue_types',
  {
    key: text('key').notNull(),
    version: integer('version').notNull(),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    definition: jsonb('definition').notNull(),
    /** What starters and senders may put in (api/issue-type-input.ts); null: nothing, and every role may start. */
    input: jsonb('input'),
    createdBy: uuid('created_by'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.key, t.version] })],
);

/** Read model of every issue, written by the issue workflow on each step. */
export const issues = pgTable(
  'issues',
  {
    id: uuid('id').primaryKey(),
    typeKey: text('type_key').notNull(),
    typeVersion: integer('type_version').notNull(),
    title: text('title').notNull(),
    state: text('state').notNull(),
    /** The statechart's state value (nested and parallel states as objects), so a reader can restore the machine. */
    value: jsonb('value'),
    status: text('status', { enum: ['active', 'done'] }).notNull(),
    context: jsonb('context').notNull(),
    assigneeId: uuid('assignee_id'),
    creatorId: uuid('creator_id').notNull(),
    /** Number of the last recorded step: a late retry of an older step never overwrites a newer one. */
    step: integer('step').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('issues_type_state_idx').on(t.typeKey, t.state, t.id),
    index('issues_assignee_idx').on(t.assigneeId, t.id),
    index('issues_active_type_idx').on(t.typeKey, t.id).where(sql`${t.status} = 'active'`),
  ],
);

/** An effect's answer, fed back into the statechart as the next event. */
export interface EffectAnswer {
  type: string;
  data?: Record<string, unknown>;
}

export interface StepOutcome {
  answers: EffectAnswer[];
  /** Keys of the e-mail deliveries the step recorded as `pending` (delivered after the step, outside it). */
  mailKeys: string[];
  /** Set on the steps a shuffle batch committed for the issue (not the issue's workflow). */
  shuffleId?: string;
  /** On the first of them: the message that tells the issue's workflow (workflows/messages.ts `CommittedSteps`). */
  steps?: { shuffleId: string; fromStep: number; events: (EffectAnswer & { actor?: { id: string; role: string } })[]; mailKeys: string[] };
}

export const issueTransitions = pgTable(
  'issue_transitions',
  {
    issueId: uuid('issue_id').notNull(),
    step: integer('step').notNull(),
    fromState: text('from_state'),
    event: text('event').notNull(),
    toState: text('to_state').notNull(),
    actorId: text('actor_id').notNull(),
    actorRole: text('actor_role').notNull(),
    /** What the step's effects answered and which mails it left to deliver: a retried step (its transaction
     *  committed, the worker gone before Temporal heard) is answered from here instead of running again. */
    outcome: jsonb('outcome').$type<StepOutcome>(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.issueId, t.step] })],
);

/** Which issues hear what is published to a topic (e.g. `inventory/<id>`). */
export const topicSubscriptions = pgTable(
  'topic_subscriptions',
  {
    topic: text('topic').notNull(),
    issueId: uuid('issue_id').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.topic, t.issueId] })],
);

/** Which issues a migration moves beside its type and version (`POST /issue-types/{key}/migrations`). */
export interface IssueMigrationFilter {
  state?: string;
  assigneeId?: string;
  issueIds?: string[];
}

/** An issue the migration left where it was, and why. */
export interface SkippedIssue {
  issueId: string;
  reason: string;
}

/**
 * Migrations of running issues from one version of a type to another: created by the API, moved forward batch by
 * batch by `issueMigrationWorkflow`, each batch adding its counts.
 */
export const issueMigrations = pgTable(
  'issue_migrations',
  {
    id: uuid('id').primaryKey(),
    typeKey: text('type_key').notNull(),
    fromVersion: integer('from_version').notNull(),
    toVersion: integer('to_version').notNull(),
    /** Source leaf state path → target state path. */
    stateMapping: jsonb('state_mapping').$type<Record<string, string>>().notNull(),
    filter: jsonb('filter').$type<IssueMigrationFilter>().notNull().default({}),
    status: text('status', { enum: ['running', 'done', 'failed'] }).notNull().default('running'),
    matched: integer('matched').notNull().default(0),
    migrated: integer('migrated').notNull().default(0),
    skippedCount: integer('skipped_count').notNull().default(0),
    /** The first skipped issues with their reasons (the count has them all). */
    skipped: jsonb('skipped').$type<SkippedIssue[]>().notNull().default([]),
    /** The last issue id of the batches counted so far: a retried batch adds its counts once. */
    lastIssueId: uuid('last_issue_id'),
    /** The issues the current batch selected after `after`: a retried batch tells the same ones again. */
    batch: jsonb('batch').$type<{ after: string | null; issueIds: string[] }>(),
    startedBy: uuid('started_by').notNull(),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [index('issue_migrations_type_idx').on(t.typeKey, t.startedAt, t.id)],
);
