// OpenTelemetry traces of one process. With OTEL_EXPORTER_OTLP_ENDPOINT set, the process registers a tracer provider
// (AsyncLocalStorage context, W3C trace-context propagation) that batches its spans to the collector over OTLP/HTTP;
// unset, nothing is installed and the SDK is not even loaded: no provider, no propagator, no Temporal interceptor,
// no span.
//
// What joins one trace (see README, Traces): the API's HTTP span (api/tracing.ts), the Temporal client's start or
// update, the workflow's spans (made in the sandbox by the interceptors of workflows/tracing-interceptors.ts and handed
// out through the `exporter` sink), the activities and the SQL transactions and queries (db/client.ts) they run.
import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import type { WorkerOptions } from '@temporalio/worker';
import type { Config } from './config.js';

/** `ates-api` and `ates-worker` for the scale-out processes; `ates` for one running both (`npm start`, tests). */
export type ServiceName = 'ates' | 'ates-api' | 'ates-worker';

export interface Tracing {
  /** aTES's own spans: HTTP requests, SQL transactions and queries. */
  tracer: Tracer;
  /** Where every span of the process ends up, workflow spans (which the worker's sink hands over) included. */
  spanProcessor: SpanProcessor;
  resource: Resource;
  /** For the Temporal client: starts, updates and signals carry the caller's trace to the workflow in their headers. */
  clientInterceptors: WorkflowClientInterceptor[];
  /** For each worker: a span per activity (local ones included), and the sink the workflow's spans leave through. */
  workerOptions: Pick<WorkerOptions, 'interceptors' | 'sinks'>;
  /** Exports the spans still buffered, then uninstalls everything (call it once the process's work has stopped). */
  shutdown(): Promise<void>;
}

/** The OTLP/HTTP traces URL for the base endpoint, as OpenTelemetry's own SDKs derive it. */
export const tracesUrl = (endpoint: string): string => `${endpoint.replace(/\/+$/, '')}/v1/traces`;

let installed = false;

/**
 * Installs tracing for this process, or nothing when `OTEL_EXPORTER_OTLP_ENDPOINT` is unset (answers undefined). A
 * test passes its own `spanProcessor` (an in-memory exporter's) instead of the OTLP exporter. Once per process: the
 * provider, context manager and propagator are OpenTelemetry's globals. The SDK is loaded here, only when needed.
 */
export async function startTracing(config: Config, serviceName: ServiceName, options: { spanProcessor?: SpanProcessor } = {}): Promise<Tracing | undefined> {
  const endpoint = config.tracing.otlpEndpoint;
  if (!options.spanProcessor && !endpoint) return undefined;
  if (installed) throw new Error('tracing is already installed in this process');
  installed = true;
  const [{ OTLPTraceExporter }, { Resource }, { BatchSpanProcessor }, { NodeTracerProvider }, { ATTR_SERVICE_NAME }, temporal] = await Promise.all([
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/semantic-conventions'),
    import('@temporalio/interceptors-opentelemetry'),
  ]).catch((error: unknown) => {
    installed = false;
    throw error;
  });
  const spanProcessor = options.spanProcessor ?? new BatchSpanProcessor(new OTLPTraceExporter({ url: tracesUrl(endpoint!) }));
  const resource = new Resource({ [ATTR_SERVICE_NAME]: serviceName });
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  provider.register();
  return {
    tracer: provider.getTracer('ates'),
    spanProcessor,
    resource,
    clientInterceptors: [new temporal.OpenTelemetryWorkflowClientInterceptor()],
    workerOptions: {
      interceptors: {
        activity: [(ctx) => ({ inbound: new temporal.OpenTelemetryActivityInboundInterceptor(ctx), outbound: new temporal.OpenTelemetryActivityOutboundInterceptor(ctx) })],
      },
      sinks: { exporter: temporal.makeWorkflowExporter(spanProcessor, resource) },
    },
    async shutdown() {
      try {
        await provider.shutdown();
      } finally {
        trace.disable();
        context.disable();
        propagation.disable();
        installed = false;
      }
    },
  };
}
