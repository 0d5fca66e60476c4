// The API alone (scale-out): needs DATABASE_URL and TEMPORAL_ADDRESS of running servers.
import { runStandalone } from '../lib/standalone.js';

await runStandalone({ api: true, workers: false });
