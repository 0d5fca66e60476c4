// Prebuilds the workflow bundle so production workers start without webpack.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflows, defaultBundlePath } from '../workers/run.js';

const { code } = await bundleWorkflows(console);
mkdirSync(path.dirname(defaultBundlePath), { recursive: true });
writeFileSync(defaultBundlePath, code);
console.log(`workflow bundle written to ${defaultBundlePath} (${(code.length / 1024).toFixed(0)} KiB)`);
