// Records the workflow histories that test/replay.test.ts replays: a task lifecycle, a shuffle, an inventory returned
// once and then approved, a service request declined, accepted, done and reviewed, a billing day's close, a review in
// parallel regions that join, a task migrated to the next version of its type (both of its runs and the migration), and
// a webhook subscription that gives an event up after its retries and delivers the next one.
// Run it after a deliberate change to a workflow's behaviour: `npm run record-histories`.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Db } from '../db/client.js';
import type { Role } from '../db/schema/auth.js';
import { createUser, type PublicUser } from '../lib/auth/users.js';
import { contexts, loadConfig } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { startProcess } from '../lib/process.js';
import { migrateWithBuiltinTypes, scratchFolder, startPostgres, startTemporalDevServer } from '../lib/stack.js';
import { loadWorkflowBundle } from '../workers/run.js';
import { requestBillingDayClose } from '../lib/billing/days.js';
import { localDate } from '../lib/billing/calendar.js';
import { billingDayWorkflowId, issueMigrationWorkflowId, issueWorkflowId, sendEventUpdate, shuffleWorkflowId, webhookWorkflowId } from '../workflows/messages.js';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { issueService, type IssueJson } from '../api/issues.js';

const out = path.resolve('test/histories');
const log = createLogger('warn', 'record');
const scratch = scratchFolder('record');
const postgres = await startPostgres({ dataDir: path.join(scratch, 'pg'), persistent: false, log });
const temporal = await startTemporalDevServer({ who: 'recording histories', log });
try {
  await migrateWithBuiltinTypes(postgres.url);
  const config = loadConfig({ PORT: '0', LOG_LEVEL: 'warn', DATABASE_URL: postgres.url, TEMPORAL_ADDRESS: temporal.address, JWT_SECRET: 'x'.repeat(32),
    // Webhook retries in seconds, so the recorded subscription gives an event up within the run.
    WEBHOOK_RETRY_INITIAL_INTERVAL: '200ms', WEBHOOK_RETRY_MAX_INTERVAL: '500ms', WEBHOOK_RETRY_GIVE_UP_AFTER: '2s' });
  const services = await startProcess({
    config,
    databaseUrl: postgres.url,
    temporalAddress: temporal.address,
    jwtSecret: config.jwt.secret!,
    log,
    api: true,
    workerContexts: contexts,
    bundle: await loadWorkflowBundle(path.join(scratch, 'none.js')),
  });
  const { db } = services.deps.database;
  const api = apiAt(services.apiUrl!);
  const people = peopleOf(api, db);
  const manager = await people.signIn('manager', 'M');
  const worker = await people.signIn('worker', 'W');
  const issues = issueService(services.deps);
  const client = services.deps.temporal.workflow;

  const task = await issues.start(manager, { type: 'task', title: 'Recorded task', context: { description: '' } });
  const other = await issues.start(manager, { type: 'task', title: 'Shuffled task', context: { description: '' } });
  const migrated = await issues.start(manager, { type: 'task', title: 'Migrated task', context: { description: '' } });
  await client.start('shuffleWorkflow', { workflowId: shuffleWorkflowId('recorded'), taskQueue: 'ates-issues', args: [{ shuffleId: 'recorded', actor: { id: manager.id, role: 'manager' } }] });
  await client.getHandle(shuffleWorkflowId('recorded')).result();
  await client.getHandle(issueWorkflowId(task.id)).executeUpdate(sendEventUpdate, { args: [{ type: 'complete', actor: { id: worker.id, role: 'worker' } }] });
  await client.getHandle(issueWorkflowId(task.id)).result();
  // Over HTTP, as test/inventory.test.ts and test/services.test.ts walk them; only now do more workers exist,
  // so the task and the shuffle above stayed with W.
  const inventory = await walkInventoryReturnedThenApproved(api, people);
  await client.getHandle(issueWorkflowId(inventory)).result();
  const serviceRequest = await walkServiceRequestDeclinedThenReviewed(api, people);
  await client.getHandle(issueWorkflowId(serviceRequest)).result();
  const contract = await walkParallelReviewJoined(api, people);
  await client.getHandle(issueWorkflowId(contract)).result();
  const migratedRunId = (await client.getHandle(issueWorkflowId(migrated.id)).describe()).runId;
  const migrationId = await walkTaskMigrated(api, people, migrated.id);
  await client.getHandle(issueWorkflowId(migrated.id)).result();
  // Start-up opened today's billing day (waiting for midnight); close it by hand, paying the worker's reward out.
  const today = localDate(Date.now(), config.billing.timeZone);
  await requestBillingDayClose(services.deps.temporal, config.billing.timeZone, today);
  await client.getHandle(billingDayWorkflowId(today)).result();
  const webhook = await walkWebhookGivingUpOneEvent(api, people);

  mkdirSync(out, { recursive: true });
  const save = async (name: string, workflowId: string, runId?: string) => {
    const history = await client.getHandle(workflowId, runId).fetchHistory();
    writeFileSync(path.join(out, `${name}.json`), historyToJSON(history));
    console.log(`wrote test/histories/${name}.json (${history.events?.length} events)`);
  };
  await save('task-lifecycle', issueWorkflowId(task.id));
  await save('task-shuffled-open', issueWorkflowId(other.id));
  await save('shuffle', shuffleWorkflowId('recorded'));
  await save('inventory-returned-approved', issueWorkflowId(inventory));
  await save('service-request-reviewed', issueWorkflowId(serviceRequest));
  await save('billing-day', billingDayWorkflowId(today));
  await save('contract-review-joined', issueWorkflowId(contract));
  await save('task-migrated', issueWorkflowId(migrated.id), migratedRunId);
  await save('task-after-migration', issueWorkflowId(migrated.id));
  await save('issue-migration', issueMigrationWorkflowId(migrationId));
  // Still running: its round waits for more events.
  await save('webhook-delivery', webhookWorkflowId(webhook.id));
  await webhook.stop();
  await services.stop();
} finally {
  await temporal.stop();
  await postgres.stop();
  rmSync(scratch, { recursive: true, force: true });
}

/** A call to the API that must succeed: the walks take only steps the tests show to be allowed. Most answer an issue. */
type Api = <T = IssueJson>(method: string, path: string, options?: { token?: string; body?: unknown; ifMatch?: string }) => Promise<{ body: T; etag: string | null }>;

function apiAt(baseUrl: string): Api {
  return async (method, path, { token, body, ifMatch } = {}) => {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...(ifMatch ? { 'If-Match': ifMatch } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
    return { body: text ? JSON.parse(text) : undefined, etag: response.headers.get('etag') };
  };
}

interface Person extends PublicUser {
  token: string;
}

/** Users logged in over HTTP, found again by id when a workflow picked one of them (assignee, offered worker). */
function peopleOf(api: Api, db: Db) {
  const byId = new Map<string, Person>();
  return {
    async signIn(role: Role, name: string): Promise<Person> {
      const email = `${name.toLowerCase().replaceAll(' ', '.')}@x.local`;
      const user = await createUser(db, { name, email, role, password: 'password1' });
      const { body } = await api<{ token: string }>('POST', '/auth/login', { body: { email, password: 'password1' } });
      const person = { ...user, token: body.token };
      byId.set(person.id, person);
      return person;
    },
    get(id: string | null): Person {
      const person = id === null ? undefined : byId.get(id);
      if (!person) throw new Error(`user ${id} was not signed in here`);
      return person;
    },
  };
}

type People = ReturnType<typeof peopleOf>;

function sendEvent(api: Api, by: Person, issueId: string, type: string, data: Record<string, unknown> = {}) {
  return api('POST', `/issues/${issueId}/events`, { token: by.token, body: { type, data } });
}

async function untilState(api: Api, by: Person, issueId: string, state: string, withinMs = 60_000): Promise<void> {
  for (const deadline = Date.now() + withinMs; ; await new Promise((resolve) => setTimeout(resolve, 200))) {
    const { body } = await api('GET', `/issues/${issueId}`, { token: by.token });
    if (body.state === state) return;
    if (Date.now() > deadline) throw new Error(`issue ${issueId} still in ${body.state}, not ${state}, after ${withinMs} ms`);
  }
}

/** Seed 000 scenario 1 with the return path: count, close, returned with a comment, recount, close again, approved. */
async function walkInventoryReturnedThenApproved(api: Api, people: People): Promise<string> {
  const client = await people.signIn('client', 'Inventory client');
  await people.signIn('reviewer', 'Reviewer');
  const items = [
    { sku: 'BOLT-M8', name: 'Bolt M8', expectedQuantity: 120 },
    { sku: 'NUT-M8', name: 'Nut M8', expectedQuantity: 80 },
  ];
  const { body: issue } = await api('POST', '/issues', {
    token: client.token,
    body: { type: 'inventory', title: 'Recorded inventory', context: { location: 'Warehouse 1, shelf A', items } },
  });
  const performer = people.get(issue.assigneeId);
  const inventory = `/inventories/${String(issue.context.inventoryId)}`;
  const count = async (lines: { sku: string; countedQuantity: number }[]) => {
    const { etag } = await api<unknown>('GET', inventory, { token: performer.token });
    await api<unknown>('PATCH', inventory, { token: performer.token, ifMatch: etag!, body: { lines } });
  };

  await api<unknown>('POST', `${inventory}/start`, { token: performer.token });
  await untilState(api, performer, issue.id, 'counting');
  await count([
    { sku: 'BOLT-M8', countedQuantity: 118 },
    { sku: 'NUT-M8', countedQuantity: 80 },
  ]);
  const { body: inReview } = await sendEvent(api, performer, issue.id, 'close');
  const reviewer = people.get(inReview.assigneeId);
  await sendEvent(api, reviewer, issue.id, 'return', { comment: 'Recount the bolts, please' });
  await count([{ sku: 'BOLT-M8', countedQuantity: 120 }]);
  await sendEvent(api, performer, issue.id, 'close');
  await sendEvent(api, reviewer, issue.id, 'approve');
  return issue.id;
}

/** Seed 002: the first worker offered declines, the other accepts and does it, the client reviews. */
async function walkServiceRequestDeclinedThenReviewed(api: Api, people: People): Promise<string> {
  const admin = await people.signIn('admin', 'Admin');
  const client = await people.signIn('client', 'Service client');
  const { body: service } = await api<{ id: string }>('POST', '/services', {
    token: admin.token,
    body: { name: 'Beak polishing', description: 'Beak polishing, done well', priceCents: 2999 },
  });
  for (const name of ['Polisher one', 'Polisher two']) {
    const applicant = await people.signIn('worker', name);
    const { body: application } = await api<{ id: string }>('POST', '/worker-applications', { token: applicant.token, body: { serviceIds: [service.id] } });
    await api<unknown>('POST', `/worker-applications/${application.id}/approve`, { token: admin.token });
  }

  const { body: offered } = await api('POST', '/service-requests', { token: client.token, body: { serviceId: service.id, note: 'Second floor, ring twice' } });
  const request = `/service-requests/${offered.id}`;
  const { body: offeredAgain } = await api('POST', `${request}/decline`, { token: people.get(offered.assigneeId).token, body: { reason: 'Out of polish' } });
  const performer = people.get(offeredAgain.assigneeId);
  await api('POST', `${request}/accept`, { token: performer.token });
  await api('POST', `${request}/done`, { token: performer.token });
  await api('POST', `${request}/review`, { token: client.token, body: { rating: 4, comment: 'Shiny' } });
  return offered.id;
}

/** A contract reviewed by legal and QA at once (a parallel state); once both regions are done it joins, and is signed. */
async function walkParallelReviewJoined(api: Api, people: People): Promise<string> {
  const admin = await people.signIn('admin', 'Type admin');
  const region = (name: string) => ({ initial: 'pending', states: { pending: { on: { [`${name}.ok`]: 'ok' } }, ok: { type: 'final' } } });
  const definition = {
    initial: 'drafting',
    states: {
      drafting: { on: { submit: 'review' } },
      review: { type: 'parallel', states: { legal: region('legal'), qa: region('qa') }, onDone: 'approved' },
      approved: { on: { sign: 'signed' } },
      signed: { type: 'final' },
    },
  };
  await api<unknown>('POST', '/issue-types', { token: admin.token, body: { key: 'contract', name: 'Contract', definition, input: { startRoles: ['manager'] } } });
  const manager = await people.signIn('manager', 'Contract manager');
  const { body: contract } = await api('POST', '/issues', { token: manager.token, body: { type: 'contract', title: 'Recorded contract' } });
  for (const event of ['submit', 'legal.ok', 'qa.ok', 'sign']) await sendEvent(api, manager, contract.id, event);
  return contract.id;
}

/**
 * The next version of the task type calls `open` `in_progress`; an admin migrates the open task to it (the issue
 * continues as new on it), then its assignee completes it. Answers the migration's id.
 */
async function walkTaskMigrated(api: Api, people: People, taskId: string): Promise<string> {
  const admin = await people.signIn('admin', 'Migration admin');
  const { body: type } = await api<{ version: number; definition: { states: Record<string, { on?: Record<string, { target?: string }> }> }; input: unknown; name: string }>('GET', '/issue-types/task', { token: admin.token });
  const { open, ...states } = type.definition.states;
  states.assigning!.on!['assignee.assigned']!.target = 'in_progress';
  const definition = { ...type.definition, states: { ...states, in_progress: open } };
  const { body: next } = await api<{ version: number }>('POST', '/issue-types', { token: admin.token, body: { key: 'task', name: type.name, definition, input: type.input } });
  const { body: task } = await api('GET', `/issues/${taskId}`, { token: admin.token });
  const { body: migration } = await api<{ id: string }>('POST', '/issue-types/task/migrations', {
    token: admin.token,
    body: { fromVersion: type.version, toVersion: next.version, stateMapping: { open: 'in_progress' }, filter: { issueIds: [taskId] } },
  });
  for (const deadline = Date.now() + 60_000; ; await new Promise((resolve) => setTimeout(resolve, 200))) {
    const { body } = await api<{ status: string }>('GET', `/issue-types/task/migrations/${migration.id}`, { token: admin.token });
    if (body.status === 'done') break;
    if (Date.now() > deadline) throw new Error(`migration ${migration.id} is still ${body.status}`);
  }
  await sendEvent(api, people.get(task.assigneeId), taskId, 'complete');
  return migration.id;
}

/** A subscription to `user.created` whose receiver refuses the event of one user: it is given up, the next one goes out. */
async function walkWebhookGivingUpOneEvent(api: Api, people: People): Promise<{ id: string; stop: () => Promise<void> }> {
  const received: string[] = [];
  const receiver = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    request.on('end', () => {
      const refused = body.includes('"name":"Refused"');
      if (!refused) received.push(body);
      response.writeHead(refused ? 500 : 204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const admin = await people.signIn('admin', 'Webhook admin');
  const { body: subscription } = await api<{ id: string }>('POST', '/webhooks', {
    token: admin.token,
    body: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`, eventTypes: ['user.created'] },
  });
  await people.signIn('worker', 'Refused');
  await people.signIn('worker', 'Accepted');
  for (const deadline = Date.now() + 60_000; !received.some((body) => body.includes('"name":"Accepted"')); await new Promise((resolve) => setTimeout(resolve, 200))) {
    if (Date.now() > deadline) throw new Error('the webhook event after the given-up one was not delivered');
  }
  return { id: subscription.id, stop: () => new Promise((resolve) => receiver.close(() => resolve())) };
}
