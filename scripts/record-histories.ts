// Records the workflow histories that test/replay.test.ts replays: a task lifecycle and a shuffle.
// Run it after a deliberate change to a workflow's behaviour: `npm run record-histories`.
import { mkdirSync, mkdtempSync, chmodSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { migrateDatabase } from '../db/client.js';
import { ensureBuiltinIssueTypes } from '../db/seed/issue-types.js';
import { createUser } from '../db/users.js';
import { contexts, loadConfig, searchPath } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { startEmbeddedPostgres } from '../lib/postgres-server.js';
import { startServices } from '../lib/services.js';
import { findTemporalCli, startDevServer } from '../lib/temporal-server.js';
import { loadWorkflowBundle } from '../workers/run.js';
import { issueWorkflowId, sendEventUpdate, shuffleWorkflowId } from '../workflows/messages.js';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { issueService } from '../api/issues.js';

const out = path.resolve('test/histories');
const log = createLogger('warn', 'record');
const scratch = mkdtempSync(path.join(tmpdir(), 'ates-record-'));
chmodSync(scratch, 0o755);
const cli = findTemporalCli({ searchPath: searchPath(), toolsDir: path.resolve('.tools'), log });
if (!cli) throw new Error('needs the Temporal CLI (see README)');
const postgres = await startEmbeddedPostgres({ dataDir: path.join(scratch, 'pg'), port: 54399, persistent: false, log });
const temporal = await startDevServer({ cli, port: 17399, uiPort: 18399, namespace: 'default', log });
try {
  await migrateDatabase(postgres.url);
  const config = loadConfig({ PORT: '0', LOG_LEVEL: 'warn', DATABASE_URL: postgres.url, TEMPORAL_ADDRESS: temporal.address, JWT_SECRET: 'x'.repeat(32) });
  const services = await startServices({
    config,
    databaseUrl: postgres.url,
    temporalAddress: temporal.address,
    jwtSecret: config.jwt.secret!,
    log,
    api: false,
    workerContexts: contexts,
    bundle: await loadWorkflowBundle(path.join(scratch, 'none.js')),
  });
  const { db } = services.deps.database;
  await ensureBuiltinIssueTypes(db);
  const manager = await createUser(db, { name: 'M', email: 'm@x.local', role: 'manager', password: 'password1' });
  const worker = await createUser(db, { name: 'W', email: 'w@x.local', role: 'worker', password: 'password1' });
  const issues = issueService(services.deps);
  const client = services.deps.temporal.workflow;

  const task = await issues.start(manager, { type: 'task', title: 'Recorded task', context: { description: '' } });
  const other = await issues.start(manager, { type: 'task', title: 'Shuffled task', context: { description: '' } });
  await client.start('shuffleWorkflow', { workflowId: shuffleWorkflowId('recorded'), taskQueue: 'ates-issues', args: [{ shuffleId: 'recorded', actor: { id: manager.id, role: 'manager' } }] });
  await client.getHandle(shuffleWorkflowId('recorded')).result();
  await client.getHandle(issueWorkflowId(task.id)).executeUpdate(sendEventUpdate, { args: [{ type: 'complete', actor: { id: worker.id, role: 'worker' } }] });
  await client.getHandle(issueWorkflowId(task.id)).result();

  mkdirSync(out, { recursive: true });
  const save = async (name: string, workflowId: string) => {
    const history = await client.getHandle(workflowId).fetchHistory();
    writeFileSync(path.join(out, `${name}.json`), historyToJSON(history));
    console.log(`wrote test/histories/${name}.json (${history.events?.length} events)`);
  };
  await save('task-lifecycle', issueWorkflowId(task.id));
  await save('task-shuffled-open', issueWorkflowId(other.id));
  await save('shuffle', shuffleWorkflowId('recorded'));
  await services.stop();
} finally {
  await temporal.stop();
  await postgres.stop();
  rmSync(scratch, { recursive: true, force: true });
}
