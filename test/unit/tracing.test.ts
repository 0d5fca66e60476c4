// Tracing is installed only when OTEL_EXPORTER_OTLP_ENDPOINT is set (lib/tracing.ts); then spans leave over OTLP/HTTP.
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, createContextKey, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, querySummary } from '../../db/client.js';
import { loadConfig } from '../../lib/config.js';
import { startTracing, tracesUrl, type Tracing } from '../../lib/tracing.js';
import { fromOtlpJson, type OtlpTraceRequest } from '../support/trace-tree.js';

/** What OpenTelemetry's globals hold: each is a no-op until a tracer provider is registered. */
function installedGlobals() {
  const key = createContextKey('probe');
  return {
    recordingSpans: trace.getTracer('probe').startSpan('probe').isRecording(),
    propagatedHeaders: propagation.fields(),
    contextFollowsCalls: context.with(ROOT_CONTEXT.setValue(key, 1), () => context.active().getValue(key)) === 1,
  };
}

let tracing: Tracing | undefined;
afterEach(async () => {
  await tracing?.shutdown();
  tracing = undefined;
});

describe('tracing', () => {
  it('installs nothing when OTEL_EXPORTER_OTLP_ENDPOINT is unset', async () => {
    const config = loadConfig({});
    expect(config.tracing).toEqual({ otlpEndpoint: undefined });
    expect(await startTracing(config, 'ates-api')).toBeUndefined();
    expect(installedGlobals()).toEqual({ recordingSpans: false, propagatedHeaders: [], contextFollowsCalls: false });
    // The database is the plain postgres.js client, not the one that makes query spans.
    const database = openDatabase('postgres://nobody@127.0.0.1:9/none');
    expect((database.db as unknown as { $client: unknown }).$client).toBe(database.sql);
    void database.close();
  });

  it('with an endpoint, installs a provider, W3C propagation and the context manager, and removes them on shutdown', async () => {
    tracing = await startTracing(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' }), 'ates-worker');
    expect(tracing).toBeDefined();
    expect(installedGlobals()).toEqual({ recordingSpans: true, propagatedHeaders: ['traceparent', 'tracestate', 'baggage'], contextFollowsCalls: true });
    await expect(startTracing(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' }), 'ates-api')).rejects.toThrow(/already installed/);
    await tracing!.shutdown();
    tracing = undefined;
    expect(installedGlobals()).toEqual({ recordingSpans: false, propagatedHeaders: [], contextFollowsCalls: false });
  });

  it('sends its spans to <endpoint>/v1/traces over OTLP/HTTP, named by service, when it shuts down', async () => {
    const received: { url?: string; body: OtlpTraceRequest }[] = [];
    const collector = createServer((request: IncomingMessage, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        received.push({ url: request.url, body: JSON.parse(body) as OtlpTraceRequest });
        response.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      });
    });
    collector.listen(0, '127.0.0.1');
    await once(collector, 'listening');
    try {
      const { port } = collector.address() as AddressInfo;
      tracing = await startTracing(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}/` }), 'ates-api');
      tracing!.tracer.startActiveSpan('outer', (outer) => {
        tracing!.tracer.startSpan('inner').end();
        outer.end();
      });
      expect(received).toEqual([]); // batched: nothing leaves per span
      await tracing!.shutdown();
      tracing = undefined;
      expect(received.map((request) => request.url)).toEqual(['/v1/traces']);
      const spans = fromOtlpJson(received[0]!.body);
      expect(spans.map((span) => [span.name, span.service])).toEqual([
        ['inner', 'ates-api'],
        ['outer', 'ates-api'],
      ]);
      expect(spans[0]!.parentSpanId).toBe(spans[1]!.spanId);
    } finally {
      collector.close();
    }
  });

  it('derives the traces URL from the base endpoint as OpenTelemetry does', () => {
    expect(tracesUrl('http://collector:4318')).toBe('http://collector:4318/v1/traces');
    expect(tracesUrl('https://collector/otlp/')).toBe('https://collector/otlp/v1/traces');
  });

  it('names a query span by what the statement does to which tables, a writing WITH clause by what it writes', () => {
    expect(querySummary('select "id" from "users" where "id" = $1')).toEqual({ operation: 'SELECT', table: 'users' });
    expect(querySummary('insert into "issue_transitions" ("issue_id") values ($1)')).toEqual({ operation: 'INSERT', table: 'issue_transitions' });
    expect(querySummary('update "accounts" set "balance_cents" = 1')).toEqual({ operation: 'UPDATE', table: 'accounts' });
    expect(
      querySummary(`with locked as (select id from "issues" where id = $1 for update),
        entry as (insert into "ledger_entries" (key) values ($2) on conflict (key) do nothing returning *),
        balance as (insert into "accounts" (user_id) select user_id from entry on conflict (user_id) do update set balance_cents = 1)
        select * from entry`),
    ).toEqual({ operation: 'INSERT', table: 'ledger_entries accounts' });
    expect(querySummary('with today as (select 1) select date from "billing_days", today')).toEqual({ operation: 'SELECT', table: 'billing_days' });
  });
});
