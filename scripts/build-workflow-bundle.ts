// Prebuilds the workflow bundle so production workers start without webpack.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { defaultBundlePath, workflowsPath } from '../workers/run.js';

const { code } = await bundleWorkflowCode({ workflowsPath });
mkdirSync(path.dirname(defaultBundlePath), { recursive: true });
writeFileSync(defaultBundlePath, code);
console.log(`workflow bundle written to ${defaultBundlePath} (${(code.length / 1024).toFixed(0)} KiB)`);
