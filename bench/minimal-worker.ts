// The minimal baseline's worker process:
// `node --import tsx bench/minimal-worker.ts --address host:port --namespace ns --database-url postgres://...`.
// Its own task queue and bundle, so the minimal workflow never reaches the product's workers.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import postgres from 'postgres';
import { quietBundlerLogger } from '../lib/logger.js';
import { createMinimalActivities } from './minimal-activities.js';
import { minimalTaskQueue } from './minimal-workflow.js';

const { values } = parseArgs({ options: { address: { type: 'string' }, namespace: { type: 'string' }, 'database-url': { type: 'string' } } });
if (!values.address || !values.namespace || !values['database-url']) {
  console.error('usage: minimal-worker.ts --address host:port --namespace ns --database-url postgres://...');
  process.exit(2);
}

// The SDK's info lines would flood the bench's output.
Runtime.install({ logger: new DefaultLogger('WARN') });
const workflowsPath = path.join(path.dirname(fileURLToPath(import.meta.url)), 'minimal-workflow.ts');
const workflowBundle = await bundleWorkflowCode({ workflowsPath, logger: quietBundlerLogger });
// As many connections as an aTES worker process opens (db/client.ts).
const sql = postgres(values['database-url'], { max: 10, onnotice: () => {} });
const connection = await NativeConnection.connect({ address: values.address });
const worker = await Worker.create({ connection, namespace: values.namespace, taskQueue: minimalTaskQueue, workflowBundle, activities: createMinimalActivities(sql) });
process.on('SIGTERM', () => worker.shutdown());
process.on('SIGINT', () => worker.shutdown());
const running = worker.run();
console.log('minimal worker running');
await running;
await connection.close();
await sql.end({ timeout: 5 });
