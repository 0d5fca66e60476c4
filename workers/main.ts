// Workers alone (scale-out): `WORKER_CONTEXTS=billing npm run worker` runs the billing task queue only.
import { runStandalone } from '../lib/standalone.js';

await runStandalone({ api: false, workers: true });
