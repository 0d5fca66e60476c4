// Migrating running issues to another version of their type over HTTP: every state the matching issues occupy
// is mapped explicitly, and the whole request is checked before anything moves; then `issueMigrationWorkflow`
// moves the issues in batches and the migration's row shows its progress.
import { createRoute, z } from '@hono/zod-openapi';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { and, eq, getTableColumns } from 'drizzle-orm';
import { randomUUID } from 'node:crypto';
import type { StateValue } from 'xstate';
import { migrationSelection } from '../lib/issues/migrations.js';
import { stableUuid } from '../lib/ids.js';
import { issueMigrations, issues, issueTypes } from '../db/schema/issues.js';
import type { issueMigrationWorkflow } from '../workflows/issue-migration.js';
import { issueMigrationWorkflowId } from '../workflows/messages.js';
import { activeStatePaths, buildMachine, restore, type IssueTypeDefinition } from '../workflows/statechart/machine.js';
import { mappedValue, statesOf } from '../workflows/statechart/migration.js';
import { taskQueues } from '../workflows/task-queues.js';
import { authResponses, createRouter, IdempotencyHeaders, idempotent, jsonBody, jsonContent, page, PageQuery, pages, validationResponses } from './common.js';
import type { ApiDeps } from './deps.js';
import { TypeKey } from './issues.js';
import { ProblemError, problemContent, problems, type Problem } from './problem.js';
import { signedIn } from './security.js';

const KeyParam = z.object({ key: TypeKey.openapi({ param: { name: 'key', in: 'path' }, example: 'task' }) });
const Version = z.number().int().min(1);
const StatePath = z.string().min(1).max(500);

const MigrationBody = z
  .object({
    fromVersion: Version,
    toVersion: Version,
    stateMapping: z
      .record(StatePath, StatePath)
      .refine((mapping) => Object.keys(mapping).length <= 1000, { message: 'at most 1000 states' })
      .openapi({ description: 'Source state path → target state path (`review.legal.ok`); every state the matching running issues are in needs one.', example: { open: 'in_progress' } }),
    filter: z
      .object({
        state: z.string().max(200).optional().openapi({ description: 'Only issues in this state (as `GET /issues` shows it).' }),
        assigneeId: z.uuid().optional(),
        issueIds: z.array(z.uuid()).min(1).max(1000).optional(),
      })
      .strict()
      .default({}),
  })
  .strict()
  .openapi('CreateIssueMigrationRequest');

const MigrationSchema = z
  .object({
    id: z.uuid(),
    typeKey: z.string(),
    fromVersion: z.number().int(),
    toVersion: z.number().int(),
    stateMapping: z.record(z.string(), z.string()),
    filter: z.object({ state: z.string().optional(), assigneeId: z.uuid().optional(), issueIds: z.array(z.uuid()).optional() }),
    status: z.enum(['running', 'done', 'failed']),
    matched: z.number().int().openapi({ description: 'Issues the batches selected so far.' }),
    migrated: z.number().int(),
    skipped: z.object({
      count: z.number().int(),
      issues: z.array(z.object({ issueId: z.uuid(), reason: z.string() })).openapi({ description: 'The first 100 skipped issues and why.' }),
    }),
    startedBy: z.uuid(),
    startedAt: z.iso.datetime(),
    finishedAt: z.iso.datetime().nullable(),
  })
  .openapi('IssueMigration');

const migrationPages = pages([issueMigrations.startedAt, issueMigrations.id], 'desc');

const migrationJson = (row: typeof issueMigrations.$inferSelect): z.infer<typeof MigrationSchema> => ({
  id: row.id,
  typeKey: row.typeKey,
  fromVersion: row.fromVersion,
  toVersion: row.toVersion,
  stateMapping: row.stateMapping,
  filter: row.filter,
  status: row.status,
  matched: row.matched,
  migrated: row.migrated,
  skipped: { count: row.skippedCount, issues: row.skipped },
  startedBy: row.startedBy,
  startedAt: row.startedAt.toISOString(),
  finishedAt: row.finishedAt?.toISOString() ?? null,
});

type Body = z.infer<typeof MigrationBody>;

/** Every reason the migration cannot run, as 422 fields; a key without versions is a 404. */
async function checkMigration(deps: ApiDeps, key: string, body: Body): Promise<void> {
  const { db } = deps.database;
  const versions = await db.select({ version: issueTypes.version, definition: issueTypes.definition }).from(issueTypes).where(eq(issueTypes.key, key));
  if (versions.length === 0) throw problems.notFound(`issue type ${key}`);
  const source = versions.find((row) => row.version === body.fromVersion);
  const target = versions.find((row) => row.version === body.toVersion);
  const errors: NonNullable<Problem['errors']> = [];
  if (!source) errors.push({ field: 'body.fromVersion', message: `${key} has no version ${body.fromVersion}` });
  if (!target) errors.push({ field: 'body.toVersion', message: `${key} has no version ${body.toVersion}` });
  if (body.fromVersion === body.toVersion) errors.push({ field: 'body.toVersion', message: 'must differ from fromVersion' });
  if (source && target && errors.length === 0) {
    const sourceStates = statesOf(source.definition);
    const targetStates = statesOf(target.definition);
    for (const [from, to] of Object.entries(body.stateMapping)) {
      const field = `body.stateMapping.${from}`;
      // Paths are never empty (the schema), so the root ('') is no state here.
      if (!sourceStates.has(from)) errors.push({ field, message: `"${from}" is not a state of version ${body.fromVersion}` });
      const info = targetStates.get(to);
      if (!info) errors.push({ field, message: `"${to}" is not a state of version ${body.toVersion}` });
      else if (info.final) errors.push({ field, message: `"${to}" is a final state of version ${body.toVersion}: a migrated issue must go on running` });
    }
    if (errors.length === 0) errors.push(...(await checkOccupied(deps, key, body, target.definition as IssueTypeDefinition)));
  }
  if (errors.length) throw new ProblemError(422, 'validation', errors.map((e) => `${e.field}: ${e.message}`).join('; '), errors);
}

/**
 * Each combination of states the matching running issues are in must map to a state the target chart can hold;
 * each leaf state among them needs a mapping. Read from the read model, one row per distinct value.
 */
async function checkOccupied(deps: ApiDeps, key: string, body: Body, definition: IssueTypeDefinition): Promise<NonNullable<Problem['errors']>> {
  const occupied = await deps.database.db
    .selectDistinct({ value: issues.value, state: issues.state })
    .from(issues)
    .where(migrationSelection({ typeKey: key, fromVersion: body.fromVersion, filter: body.filter }));
  const targetStates = statesOf(definition);
  const machine = buildMachine(definition, { id: 'migration-check', type: key });
  const unmapped = new Set<string>();
  const errors: NonNullable<Problem['errors']> = [];
  for (const { value, state } of occupied) {
    // Rows written before state values were recorded name their state (a path, as charts were not parallel then).
    const paths = value === null ? [state] : activeStatePaths(value as StateValue);
    const mapped = mappedValue(paths, body.stateMapping, targetStates);
    if ('unmapped' in mapped) mapped.unmapped.forEach((path) => unmapped.add(path));
    else if ('conflict' in mapped) errors.push({ field: 'body.stateMapping', message: `${paths.join(', ')} map to states of ${mapped.conflict} that cannot be active together` });
    else {
      try {
        restore(machine, mapped.value, {});
      } catch (error) {
        errors.push({ field: 'body.stateMapping', message: `${paths.join(', ')} map to ${JSON.stringify(mapped.value)}, which version ${body.toVersion} cannot hold: ${String(error)}` });
      }
    }
  }
  for (const path of unmapped) {
    errors.push({ field: `body.stateMapping.${path}`, message: `running issues of version ${body.fromVersion} are in "${path}": map it to a state of version ${body.toVersion}` });
  }
  return errors;
}

export function issueMigrationRoutes(deps: ApiDeps) {
  const app = createRouter();
  const { db } = deps.database;
  const location = (key: string, id: string) => `/issue-types/${key}/migrations/${id}`;

  app.openapi(
    createRoute({
      method: 'post',
      path: '/issue-types/{key}/migrations',
      operationId: 'startIssueMigration',
      tags: ['issue types'],
      summary: 'Migrate running issues of one version of a type to another (runs in the background)',
      description:
        'Every state the matching running issues are in must be mapped to a state of the target version that is not final; the request is refused whole before anything moves. Issues keep their context; no entry action runs, so no money moves. The target states\' `after` timers start afresh; the old version\'s pending timers are dropped.',
      ...signedIn(deps, 'admin'),
      request: { params: KeyParam, headers: IdempotencyHeaders, body: jsonBody(MigrationBody) },
      responses: {
        202: {
          ...jsonContent(MigrationSchema, 'The migration has started; watch it at the Location'),
          headers: z.object({ Location: z.string().openapi({ description: 'The migration: GET it for progress.' }) }),
        },
        ...authResponses,
        404: problemContent('No such issue type'),
        ...validationResponses,
      },
    }),
    async (c) => {
      const { key } = c.req.valid('param');
      const body = c.req.valid('json');
      const user = c.get('user');
      const idempotencyKey = c.req.header('Idempotency-Key');
      const answer = await idempotent(c, deps, `POST /issue-types/${key}/migrations`, async () => {
        await checkMigration(deps, key, body);
        // The id follows from the key: a retry whose first attempt started the migration but could not store its
        // answer finds that migration (row and workflow) instead of starting a second one.
        const id = idempotencyKey ? stableUuid(`issue-migration:${user.id}:${key}:${idempotencyKey}`) : randomUUID();
        await db
          .insert(issueMigrations)
          .values({ id, typeKey: key, fromVersion: body.fromVersion, toVersion: body.toVersion, stateMapping: body.stateMapping, filter: body.filter, startedBy: user.id })
          .onConflictDoNothing();
        try {
          await deps.temporal.workflow.start<typeof issueMigrationWorkflow>('issueMigrationWorkflow', {
            workflowId: issueMigrationWorkflowId(id),
            taskQueue: taskQueues.issues,
            args: [{ migrationId: id }],
            workflowIdConflictPolicy: 'USE_EXISTING',
            workflowIdReusePolicy: 'REJECT_DUPLICATE',
          });
        } catch (error) {
          // That first migration has finished meanwhile.
          if (!(idempotencyKey && error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
        }
        const [row] = await db.select().from(issueMigrations).where(eq(issueMigrations.id, id));
        return { status: 201, body: migrationJson(row!) };
      });
      return c.json(answer.body, 202, { Location: location(key, answer.body.id) });
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/issue-types/{key}/migrations/{id}',
      operationId: 'getIssueMigration',
      tags: ['issue types'],
      summary: 'A migration and its progress: issues matched, migrated and skipped (with why)',
      ...signedIn(deps, 'admin'),
      request: { params: KeyParam.extend({ id: z.uuid().openapi({ param: { name: 'id', in: 'path' } }) }) },
      responses: { 200: jsonContent(MigrationSchema, 'The migration'), ...authResponses, 404: problemContent('No such migration of this type'), ...validationResponses },
    }),
    async (c) => {
      const { key, id } = c.req.valid('param');
      const [row] = await db
        .select()
        .from(issueMigrations)
        .where(and(eq(issueMigrations.id, id), eq(issueMigrations.typeKey, key)));
      if (!row) throw problems.notFound(`migration ${id} of ${key}`);
      return c.json(migrationJson(row), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/issue-types/{key}/migrations',
      operationId: 'listIssueMigrations',
      tags: ['issue types'],
      summary: 'Migrations of a type, newest first',
      ...signedIn(deps, 'admin'),
      request: { params: KeyParam, query: PageQuery },
      responses: { 200: jsonContent(page(MigrationSchema), 'A page of migrations'), ...authResponses, 404: problemContent('No such issue type'), ...validationResponses },
    }),
    async (c) => {
      const { key } = c.req.valid('param');
      const query = c.req.valid('query');
      const after = migrationPages.after(query.after);
      const [type] = await db.select({ key: issueTypes.key }).from(issueTypes).where(eq(issueTypes.key, key)).limit(1);
      if (!type) throw problems.notFound(`issue type ${key}`);
      const rows = await db
        .select(migrationPages.select(getTableColumns(issueMigrations)))
        .from(issueMigrations)
        .where(and(eq(issueMigrations.typeKey, key), after))
        .orderBy(...migrationPages.orderBy)
        .limit(migrationPages.fetch(query.limit));
      const { items, nextCursor } = migrationPages.page(rows, query.limit);
      return c.json({ items: items.map(migrationJson), nextCursor }, 200);
    },
  );

  return app;
}
