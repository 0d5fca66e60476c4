import type { Client } from '@temporalio/client';
import type { Database } from '../db/client.js';
import type { Config } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';

/** What activities may touch: the database, Temporal (to signal other workflows), configuration. */
export interface ActivityDeps {
  config: Config;
  database: Database;
  temporal: Client;
  log: Logger;
}
