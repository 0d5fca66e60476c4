import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Client } from '@temporalio/client';
import type { Database } from '../db/client.js';
import type { PublicUser } from '../lib/auth/users.js';
import type { Config } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';
import type { Tracing } from '../lib/tracing.js';

/** What the API needs from the outside world; built once by the process that serves it. */
export interface ApiDeps {
  config: Config;
  database: Database;
  temporal: Client;
  jwtSecret: string;
  log: Logger;
  /** Set when tracing is on (OTEL_EXPORTER_OTLP_ENDPOINT): the API's HTTP spans. */
  tracing?: Tracing;
}

export type AppEnv = { Variables: { user: PublicUser } };
export type Router = OpenAPIHono<AppEnv>;
