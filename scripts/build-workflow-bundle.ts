// Prebuilds the workflow bundles so production workers start without webpack: the plain one, and the traced one that
// workers with tracing on (OTEL_EXPORTER_OTLP_ENDPOINT) load from beside it.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflows, defaultBundlePath, tracedBundlePath } from '../workers/run.js';

mkdirSync(path.dirname(defaultBundlePath), { recursive: true });
for (const traced of [false, true]) {
  const { code } = await bundleWorkflows(console, { traced });
  const file = traced ? tracedBundlePath(defaultBundlePath) : defaultBundlePath;
  writeFileSync(file, code);
  console.log(`workflow bundle written to ${file} (${(code.length / 1024).toFixed(0)} KiB)`);
}
