// The only module that reads the environment. Everything else receives a Config.
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';

const port = z.coerce.number().int().min(1).max(65535);
const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value));

export const contexts = ['auth', 'issues', 'inventory', 'services', 'billing', 'analytics', 'notifications'] as const;
export type ContextName = (typeof contexts)[number];

const durationUnits = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** A duration such as 200ms, 5s, 1h or 1d, read as milliseconds. */
const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .pipe(
      z
        .string()
        .regex(/^[1-9]\d*(ms|s|m|h|d)$/, 'a duration such as 500ms, 5s, 1h or 1d')
        .transform((text) => {
          const [, amount, unit] = /^(\d+)(ms|s|m|h|d)$/.exec(text)!;
          return Number(amount) * durationUnits[unit as keyof typeof durationUnits];
        }),
    );

const envSchema = z.object({
  HOST: z.string().default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000), // 0: any free port
  DATA_DIR: z.string().default('.data'),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),

  TEMPORAL_ADDRESS: optionalString,
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_CLI_PATH: optionalString,
  TEMPORAL_PORT: port.default(7233),
  TEMPORAL_UI_PORT: port.default(8233),
  TEMPORAL_UI_URL: optionalString.pipe(z.url().optional()),

  DATABASE_URL: optionalString.pipe(z.url({ protocol: /^postgres(ql)?$/ }).optional()),
  EMBEDDED_POSTGRES_PORT: port.default(54329),

  ADMIN_EMAIL: optionalString.pipe(z.email().optional()),
  ADMIN_PASSWORD: optionalString.pipe(z.string().min(12, 'at least 12 characters, like every password').optional()),
  JWT_SECRET: optionalString.pipe(z.string().min(32).optional()),
  JWT_TTL_SECONDS: z.coerce.number().int().positive().default(12 * 60 * 60),

  SMTP_URL: optionalString.pipe(z.url({ protocol: /^smtps?$/ }).optional()),
  MAIL_FROM: z.string().default('aTES <noreply@ates.local>'),

  BILLING_TIMEZONE: z
    .string()
    .default('UTC')
    .refine((zone) => isTimeZone(zone), 'must be an IANA time zone such as UTC or Europe/Berlin'),
  PLATFORM_COMMISSION_PERCENT: z.coerce.number().int().min(0).max(100).default(20),
  // Durations as issue statecharts read them from their context: 30s, 15m, 2h, 7d.
  SERVICE_OFFER_SLA: z.string().regex(/^[1-9]\d*(s|m|h|d)$/, 'a duration such as 30m, 2h or 1d').default('30m'),
  SERVICE_REVIEW_WINDOW: z.string().regex(/^[1-9]\d*(s|m|h|d)$/, 'a duration such as 30m, 2h or 7d').default('7d'),
  INVENTORY_START_SLA: z.string().regex(/^[1-9]\d*(s|m|h|d)$/, 'a duration such as 30m, 4h or 1d').default('4h'),

  // How long a webhook event is retried (doubling from the initial interval up to the maximum) before it is given up.
  WEBHOOK_RETRY_INITIAL_INTERVAL: duration('5s'),
  WEBHOOK_RETRY_MAX_INTERVAL: duration('1h'),
  WEBHOOK_RETRY_GIVE_UP_AFTER: duration('24h'),

  WORKER_CONTEXTS: z
    .string()
    .default(contexts.join(','))
    .transform((list) => list.split(',').map((name) => name.trim()).filter(Boolean))
    .pipe(z.array(z.enum(contexts)).min(1)),
  WORKFLOW_BUNDLE_PATH: optionalString,
  // Each cached workflow holds ~1.5 MiB of the worker's memory; one not cached is replayed from its history when it next runs.
  WORKFLOW_CACHE_SIZE: z.coerce.number().int().min(2).default(2000),

  // Scrapers present this bearer token at the API's GET /metrics; unset, the API serves no metrics.
  METRICS_TOKEN: optionalString.pipe(z.string().min(32, 'at least 32 characters').optional()),
  // The Temporal SDK's own Prometheus exporter in each worker process binds here (an IP literal: the SDK takes no host name).
  WORKER_METRICS_ADDRESS: optionalString.pipe(
    z
      .string()
      .refine(isSocketAddress, 'an IP address and port such as 127.0.0.1:9464, 0.0.0.0:9464 or [::1]:9464')
      .optional(),
  ),

  // Sign-in through an OpenID Connect provider, beside local users; unset issuer: local users only.
  OIDC_ISSUER: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  OIDC_AUDIENCE: optionalString,
  OIDC_ROLES_CLAIM: z.string().trim().min(1).default('roles'),
  OIDC_CLIENT_ID: optionalString,

  // OpenTelemetry's own variable: the OTLP/HTTP collector's base URL (traces go to <url>/v1/traces); unset, no tracing.
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
});

function isSocketAddress(address: string): boolean {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(address);
  if (!match) return false;
  const [, ipv6, ipv4, port] = match;
  const portNumber = Number(port);
  return (ipv6 ? isIP(ipv6) === 6 : isIP(ipv4!) === 4) && portNumber >= 1 && portNumber <= 65535;
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export interface Config {
  http: { host: string; port: number };
  dataDir: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** `json`: one JSON object per line (pino); `pretty`: one readable line; `auto`: JSON unless stdout is a terminal. */
  logFormat: 'auto' | 'json' | 'pretty';
  temporal: {
    /** Set when an external Temporal server is used; otherwise a dev server is started. */
    address?: string;
    namespace: string;
    cliPath?: string;
    port: number;
    uiPort: number;
    uiUrl?: string;
  };
  database: { url?: string; embeddedPort: number };
  admin: { email?: string; password?: string };
  jwt: { secret?: string; ttlSeconds: number };
  mail: { smtpUrl?: string; from: string };
  billing: { timeZone: string; platformCommissionPercent: number };
  /** How long a worker has to answer an offer, and the client to review a finished request. */
  services: { offerSla: string; reviewWindow: string };
  /** How long an assigned inventory may wait to be started before managers are told. */
  inventory: { startSla: string };
  workers: {
    contexts: ContextName[];
    bundlePath?: string;
    workflowCacheSize: number;
    /** Where the SDK runtime's Prometheus exporter listens (`ip:port`); unset: no exporter. */
    metricsAddress?: string;
  };
  /** The bearer token of GET /metrics; unset: the API serves no metrics. */
  metrics: { token?: string };
  webhooks: { retry: WebhookRetrySchedule };
  /** Where spans are exported (OTLP over HTTP); unset: no tracing is installed at all. */
  tracing: { otlpEndpoint?: string };
  /** The OpenID Connect provider whose access tokens the API accepts beside its own; unset: local users only. */
  oidc?: OidcConfig;
}

export interface OidcConfig {
  /** Exactly as the provider's tokens carry it in `iss`. */
  issuer: string;
  /** The `aud` a token must carry to be accepted here. */
  audience: string;
  /** The claim holding the aTES role names: a top-level name, or a dotted path into nested objects. */
  rolesClaim: string;
  /** A public client (no secret) the dashboard signs in through; unset: no dashboard sign-in through the provider. */
  clientId?: string;
}

/** How a webhook event that fails is retried, in milliseconds: doubling from `initialIntervalMs`, at most `maximumIntervalMs` apart, given up `giveUpAfterMs` after its first failure. */
export interface WebhookRetrySchedule {
  initialIntervalMs: number;
  maximumIntervalMs: number;
  giveUpAfterMs: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the environment; a bad value throws a ConfigError naming the variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const e = parsed.data;
  if (e.WEBHOOK_RETRY_GIVE_UP_AFTER <= e.WEBHOOK_RETRY_INITIAL_INTERVAL) {
    throw new ConfigError('Invalid configuration:\n  WEBHOOK_RETRY_GIVE_UP_AFTER: must be longer than WEBHOOK_RETRY_INITIAL_INTERVAL');
  }
  // A provider's tokens are for many services: without the audience, one meant for another would be taken here.
  if (e.OIDC_ISSUER && !e.OIDC_AUDIENCE) {
    throw new ConfigError('Invalid configuration:\n  OIDC_AUDIENCE: required with OIDC_ISSUER (the audience its access tokens carry for aTES)');
  }
  return {
    http: { host: e.HOST, port: e.PORT },
    dataDir: path.resolve(e.DATA_DIR),
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      cliPath: e.TEMPORAL_CLI_PATH,
      port: e.TEMPORAL_PORT,
      uiPort: e.TEMPORAL_UI_PORT,
      uiUrl: e.TEMPORAL_UI_URL,
    },
    database: { url: e.DATABASE_URL, embeddedPort: e.EMBEDDED_POSTGRES_PORT },
    admin: { email: e.ADMIN_EMAIL, password: e.ADMIN_PASSWORD },
    jwt: { secret: e.JWT_SECRET, ttlSeconds: e.JWT_TTL_SECONDS },
    mail: { smtpUrl: e.SMTP_URL, from: e.MAIL_FROM },
    billing: { timeZone: e.BILLING_TIMEZONE, platformCommissionPercent: e.PLATFORM_COMMISSION_PERCENT },
    services: { offerSla: e.SERVICE_OFFER_SLA, reviewWindow: e.SERVICE_REVIEW_WINDOW },
    inventory: { startSla: e.INVENTORY_START_SLA },
    workers: {
      contexts: e.WORKER_CONTEXTS,
      bundlePath: e.WORKFLOW_BUNDLE_PATH,
      workflowCacheSize: e.WORKFLOW_CACHE_SIZE,
      metricsAddress: e.WORKER_METRICS_ADDRESS,
    },
    metrics: { token: e.METRICS_TOKEN },
    webhooks: {
      retry: {
        initialIntervalMs: e.WEBHOOK_RETRY_INITIAL_INTERVAL,
        maximumIntervalMs: e.WEBHOOK_RETRY_MAX_INTERVAL,
        giveUpAfterMs: e.WEBHOOK_RETRY_GIVE_UP_AFTER,
      },
    },
    tracing: { otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT },
    ...(e.OIDC_ISSUER && e.OIDC_AUDIENCE
      ? { oidc: { issuer: e.OIDC_ISSUER, audience: e.OIDC_AUDIENCE, rolesClaim: e.OIDC_ROLES_CLAIM, clientId: e.OIDC_CLIENT_ID } }
      : {}),
  };
}

/** Variables the PATH lookup of the Temporal CLI needs; kept here so nothing else reads the environment. */
export function searchPath(env: Record<string, string | undefined> = process.env): string[] {
  return (env.PATH ?? '').split(path.delimiter).filter(Boolean);
}

/**
 * This process's environment, for child processes that read their settings from it just as this one did (the
 * processes of `npm run cluster` take every setting given to it, beside those it decides per process).
 */
export function inheritedEnvironment(env: Record<string, string | undefined> = process.env): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
}
