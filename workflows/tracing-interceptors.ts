// Workflow interceptors of the traced bundle (`bundleWorkflows(..., { traced: true })` in workers/run.ts), which only
// workers with tracing on run: @temporalio/interceptors-opentelemetry's spans of the run, its updates, signals and
// queries and the activities it schedules, plus the `WorkflowTracing` that workflows/trace-context.ts reads.
// Not part of the plain bundle: each module here is instantiated once per cached workflow.
import * as otel from '@opentelemetry/api';
import type { BasicTracerProvider, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { extractContextFromHeaders } from '@temporalio/interceptors-opentelemetry/lib/instrumentation.js';
import {
  OpenTelemetryInboundInterceptor,
  OpenTelemetryInternalsInterceptor,
  OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/workflow/index.js';
import { getRandomStream, type WorkflowInboundCallsInterceptor, type WorkflowInterceptors, type WorkflowRandomStream } from '@temporalio/workflow';
import { getActivator } from '@temporalio/workflow/lib/global-attributes.js';
import { workflowTracingKey, type WorkflowTracing } from './trace-context.js';

/**
 * Span and trace ids are random. Drawn from `Math.random`, the workflow's own seeded sequence, each span would move
 * every later draw: an issue’s random prices (`setRandomInt`) would differ between a traced and an untraced worker, and
 * between a run and its replay when a query or an update's validator (which replays skip) made a span. So every
 * interceptor method, and every span made here, draws from a stream of its own; calls onward (`next`) are back on
 * the workflow's sequence (Temporal restores it, see `WorkflowRandomStream.with`).
 */
function drawingFrom<T extends object>(ids: WorkflowRandomStream, interceptor: T): T {
  const isolated: Record<string, unknown> = {};
  for (let proto = Object.getPrototypeOf(interceptor); proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const method = (interceptor as Record<string, unknown>)[name];
      if (name === 'constructor' || typeof method !== 'function' || name in isolated) continue;
      isolated[name] = (...args: unknown[]) => ids.with(() => method.apply(interceptor, args));
    }
  }
  return isolated as T;
}

/**
 * Times the workflow's spans by the host's clock. OpenTelemetry's Span takes its start from `Date.now()`, which in a
 * workflow is the workflow task's time and stands still while the task runs, and its duration from `performance`,
 * which @temporalio/interceptors-opentelemetry backs with the same clock: a span would start when the task did and
 * last until the next task began. Real time cannot change what the workflow does (only spans read it), so spans
 * start when their code ran and end when it finished. A span that a replay starts (the run's, or an activity still
 * running when the workflow was evicted) keeps its start from the history, the time it began on the first run.
 */
function timeSpansByTheHostClock(): void {
  // Not @opentelemetry/core's helpers: importing it here would load it before the interceptors' module has given the
  // sandbox the `performance` it reads at load.
  const toMs = ([seconds, nanos]: otel.HrTime) => seconds * 1000 + nanos / 1e6;
  const toHrTime = (ms: number): otel.HrTime => [Math.floor(ms / 1000), Math.floor((ms % 1000) * 1e6)];
  const hostNowMs = () => Number(getActivator().getTimeOfDay() / 1000n) / 1000;
  const performance = (globalThis as unknown as { performance: { timeOrigin: number; now(): number } }).performance;
  performance.now = () => hostNowMs() - performance.timeOrigin;
  const hostTime: SpanProcessor = {
    onStart(span) {
      // Span's own fields (sdk-trace-base 1.x): its start, and the `performance` time its duration is counted from.
      const timed = span as unknown as { startTime: otel.HrTime; _performanceStartTime: number };
      if (getActivator().info.unsafe.isReplaying) timed._performanceStartTime = toMs(timed.startTime) - performance.timeOrigin;
      else timed.startTime = toHrTime(hostNowMs());
    },
    onEnd: () => {},
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  ((otel.trace.getTracerProvider() as otel.ProxyTracerProvider).getDelegate() as BasicTracerProvider).addSpanProcessor(hostTime);
}

export const interceptors = (): WorkflowInterceptors => {
  const ids = getRandomStream('ates.tracing');
  // Constructed first: it registers the tracer provider (its spans go out through the worker's `exporter` sink).
  const inbound = new OpenTelemetryInboundInterceptor();
  const outbound = new OpenTelemetryOutboundInterceptor();
  timeSpansByTheHostClock();
  const tracer = otel.trace.getTracer('ates-workflow');
  let started: otel.Context | undefined;
  const noteStart: WorkflowInboundCallsInterceptor = {
    execute(input, next) {
      started = extractContextFromHeaders(input.headers);
      return next(input);
    },
  };
  const tracing: WorkflowTracing = {
    current: () => otel.context.active(),
    started: () => started,
    span(name, cause, work) {
      // A cause without a span (a message that came in untraced) starts a trace of its own, as no cause does.
      const parent = cause instanceof Object && otel.trace.getSpanContext(cause as otel.Context) ? (cause as otel.Context) : undefined;
      const here = otel.trace.getSpanContext(otel.context.active());
      const span = ids.with(() =>
        tracer.startSpan(name, parent ? {} : { root: true, links: here ? [{ context: here }] : [] }, parent ?? otel.ROOT_CONTEXT),
      );
      const result = otel.context.with(otel.trace.setSpan(parent ?? otel.ROOT_CONTEXT, span), work);
      // Observed beside the caller, who awaits `result` itself: no await is added to the workflow's own path.
      result.then(
        () => span.end(),
        (error: unknown) => {
          span.setStatus({ code: otel.SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
          span.end();
        },
      );
      return result;
    },
  };
  (globalThis as { [workflowTracingKey]?: WorkflowTracing })[workflowTracingKey] = tracing;
  return {
    inbound: [noteStart, drawingFrom(ids, inbound)],
    outbound: [drawingFrom(ids, outbound)],
    internals: [new OpenTelemetryInternalsInterceptor()],
  };
};
