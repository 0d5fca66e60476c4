import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, contexts, loadConfig } from '../../lib/config.js';

/** The ConfigError a bad environment raises, so a test can read its message. */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

/** A line of the message that starts with the variable; a list variable also names the bad entry (WORKER_CONTEXTS.0). */
const naming = (name: string) => new RegExp(`^\\s*${name}(\\.\\d+)?:`, 'm');

describe('loadConfig', () => {
  it('has working defaults for an empty environment: everything embedded', () => {
    const config = loadConfig({});
    expect(config.http).toMatchObject({ host: '127.0.0.1', port: 3000 });
    expect(config.dataDir).toBe(path.resolve('.data'));
    expect(config.logLevel).toBe('info');
    expect(config.temporal).toMatchObject({
      address: undefined,
      namespace: 'default',
      cliPath: undefined,
      port: 7233,
      uiPort: 8233,
      uiUrl: undefined,
    });
    expect(config.database).toMatchObject({ url: undefined, embeddedPort: 54329 });
    expect(config.admin).toMatchObject({ email: undefined, password: undefined });
    expect(config.jwt).toMatchObject({ secret: undefined, ttlSeconds: 12 * 60 * 60 });
    expect(config.billing).toMatchObject({ timeZone: 'UTC', platformCommissionPercent: 20 });
    expect(config.workers).toMatchObject({ contexts: [...contexts], bundlePath: undefined, metricsAddress: undefined });
    expect(config.metrics).toEqual({ token: undefined });
    expect(config.tracing).toEqual({ otlpEndpoint: undefined });
  });

  it('reads the OTLP endpoint of traces', () => {
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).tracing.otlpEndpoint).toBe('http://collector:4318');
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: ' ' }).tracing.otlpEndpoint).toBeUndefined();
  });

  it('reads the webhook retry schedule as milliseconds: 5 s doubling up to 1 h, for 24 h by default', () => {
    expect(loadConfig({}).webhooks.retry).toEqual({ initialIntervalMs: 5000, maximumIntervalMs: 3_600_000, giveUpAfterMs: 86_400_000 });
    expect(
      loadConfig({ WEBHOOK_RETRY_INITIAL_INTERVAL: '200ms', WEBHOOK_RETRY_MAX_INTERVAL: '2m', WEBHOOK_RETRY_GIVE_UP_AFTER: '1d' }).webhooks.retry,
    ).toEqual({ initialIntervalMs: 200, maximumIntervalMs: 120_000, giveUpAfterMs: 86_400_000 });
    expect(configError({ WEBHOOK_RETRY_MAX_INTERVAL: '1 hour' }).message).toMatch(naming('WEBHOOK_RETRY_MAX_INTERVAL'));
    expect(configError({ WEBHOOK_RETRY_GIVE_UP_AFTER: '0s' }).message).toMatch(naming('WEBHOOK_RETRY_GIVE_UP_AFTER'));
    expect(configError({ WEBHOOK_RETRY_INITIAL_INTERVAL: '1h', WEBHOOK_RETRY_GIVE_UP_AFTER: '30m' }).message).toMatch(naming('WEBHOOK_RETRY_GIVE_UP_AFTER'));
  });

  it('reads the identity provider settings: none by default, the audience required with an issuer', () => {
    expect(loadConfig({}).oidc).toBeUndefined();
    expect(loadConfig({ OIDC_ISSUER: 'https://id.example/realms/ates', OIDC_AUDIENCE: 'ates' }).oidc).toEqual({
      issuer: 'https://id.example/realms/ates',
      audience: 'ates',
      rolesClaim: 'roles',
      clientId: undefined,
    });
    expect(
      loadConfig({ OIDC_ISSUER: 'https://tenant.auth0.com/', OIDC_AUDIENCE: 'https://ates.example/api', OIDC_ROLES_CLAIM: 'https://ates.example/roles', OIDC_CLIENT_ID: 'dash' }).oidc,
    ).toEqual({ issuer: 'https://tenant.auth0.com/', audience: 'https://ates.example/api', rolesClaim: 'https://ates.example/roles', clientId: 'dash' });
    expect(configError({ OIDC_ISSUER: 'https://id.example' }).message).toMatch(naming('OIDC_AUDIENCE'));
    expect(configError({ OIDC_ISSUER: 'id.example', OIDC_AUDIENCE: 'ates' }).message).toMatch(naming('OIDC_ISSUER'));
  });

  it('reads the metrics settings', () => {
    const config = loadConfig({ METRICS_TOKEN: 'm'.repeat(32), WORKER_METRICS_ADDRESS: '0.0.0.0:9464' });
    expect(config.metrics.token).toBe('m'.repeat(32));
    expect(config.workers.metricsAddress).toBe('0.0.0.0:9464');
    expect(loadConfig({ WORKER_METRICS_ADDRESS: '[::1]:9464' }).workers.metricsAddress).toBe('[::1]:9464');
  });

  it('reads the variables it is given', () => {
    const config = loadConfig({
      PORT: '8080',
      DATABASE_URL: 'postgresql://ates:secret@db:5432/ates',
      TEMPORAL_ADDRESS: 'temporal:7233',
      TEMPORAL_NAMESPACE: 'ates',
      BILLING_TIMEZONE: 'Europe/Berlin',
      WORKER_CONTEXTS: ' billing , notifications ',
      JWT_SECRET: 'x'.repeat(32),
      PLATFORM_COMMISSION_PERCENT: '15',
    });
    expect(config.http.port).toBe(8080);
    expect(config.database.url).toBe('postgresql://ates:secret@db:5432/ates');
    expect(config.temporal).toMatchObject({ address: 'temporal:7233', namespace: 'ates' });
    expect(config.billing).toEqual({ timeZone: 'Europe/Berlin', platformCommissionPercent: 15 });
    expect(config.workers.contexts).toEqual(['billing', 'notifications']);
    expect(config.jwt.secret).toBe('x'.repeat(32));
  });

  it('treats an empty variable as unset', () => {
    const config = loadConfig({ DATABASE_URL: '', TEMPORAL_ADDRESS: '  ', ADMIN_EMAIL: '' });
    expect(config.database.url).toBeUndefined();
    expect(config.temporal.address).toBeUndefined();
    expect(config.admin.email).toBeUndefined();
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['BILLING_TIMEZONE', 'Mars/Base'],
    ['DATABASE_URL', 'mysql://x'],
    ['DATABASE_URL', 'not a url'],
    ['WORKER_CONTEXTS', 'nope'],
    ['WORKER_CONTEXTS', 'billing,nope'],
    ['WORKER_CONTEXTS', ','],
    ['LOG_LEVEL', 'verbose'],
    ['TEMPORAL_UI_PORT', '0'],
    ['JWT_SECRET', 'too-short'],
    ['JWT_TTL_SECONDS', '-5'],
    ['ADMIN_EMAIL', 'admin'],
    ['ADMIN_PASSWORD', 'short'],
    ['PLATFORM_COMMISSION_PERCENT', '101'],
    ['SMTP_URL', 'http://mail.local'],
    ['METRICS_TOKEN', 'too-short'],
    ['WORKER_METRICS_ADDRESS', '9464'],
    ['WORKER_METRICS_ADDRESS', 'localhost:9464'],
    ['WORKER_METRICS_ADDRESS', '127.0.0.1:70000'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'collector:4318'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'grpc://collector:4317'],
  ])('refuses %s=%s with a ConfigError naming the variable', (name, value) => {
    const error = configError({ [name]: value });
    expect(error.name).toBe('ConfigError');
    expect(error.message).toMatch(naming(name));
  });

  it('names every bad variable at once', () => {
    const error = configError({ PORT: 'abc', BILLING_TIMEZONE: 'Mars/Base', DATABASE_URL: 'mysql://x', WORKER_CONTEXTS: 'nope' });
    for (const name of ['PORT', 'BILLING_TIMEZONE', 'DATABASE_URL', 'WORKER_CONTEXTS']) expect(error.message).toMatch(naming(name));
    expect(error.message).toContain('IANA time zone');
  });
});
