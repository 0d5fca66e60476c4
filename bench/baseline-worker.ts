// The baseline's worker process: `node --import tsx bench/baseline-worker.ts --address host:port --namespace ns`.
// Its own task queue and bundle, so the bare workflow never reaches the product's workers.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { quietBundlerLogger } from '../lib/logger.js';
import { baselineActivities } from './baseline-activities.js';
import { bareTaskQueue } from './baseline-workflow.js';

const { values } = parseArgs({ options: { address: { type: 'string' }, namespace: { type: 'string' } } });
if (!values.address || !values.namespace) {
  console.error('usage: baseline-worker.ts --address host:port --namespace ns');
  process.exit(2);
}

// The SDK's info lines would flood the bench's output.
Runtime.install({ logger: new DefaultLogger('WARN') });
const workflowsPath = path.join(path.dirname(fileURLToPath(import.meta.url)), 'baseline-workflow.ts');
const workflowBundle = await bundleWorkflowCode({ workflowsPath, logger: quietBundlerLogger });
const connection = await NativeConnection.connect({ address: values.address });
const worker = await Worker.create({ connection, namespace: values.namespace, taskQueue: bareTaskQueue, workflowBundle, activities: baselineActivities });
process.on('SIGTERM', () => worker.shutdown());
process.on('SIGINT', () => worker.shutdown());
const running = worker.run();
console.log('baseline worker running');
await running;
await connection.close();
