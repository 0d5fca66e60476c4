// A trace as an indented tree with each span's start (from the trace's first span) and duration, for the trace test
// and `npm run trace:task`. Spans come from the in-memory exporter (`fromReadableSpans`) or from OTLP/HTTP JSON
// (`fromOtlpJson`, what the exporters of other processes send).
import { hrTimeToMilliseconds } from '@opentelemetry/core';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

export interface SpanRecord {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** Unix time in milliseconds (fractional). */
  startMs: number;
  durationMs: number;
  service?: string;
  attributes: Record<string, unknown>;
}

export function fromReadableSpans(spans: readonly ReadableSpan[]): SpanRecord[] {
  return spans.map((span) => ({
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    parentSpanId: span.parentSpanId || undefined,
    name: span.name,
    startMs: hrTimeToMilliseconds(span.startTime),
    durationMs: hrTimeToMilliseconds(span.duration),
    service: span.resource.attributes['service.name'] as string | undefined,
    attributes: { ...span.attributes },
  }));
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes?: OtlpAttribute[];
}
/** The body of an OTLP/HTTP JSON trace export (ids in hex, as the JavaScript exporter sends them). */
export interface OtlpTraceRequest {
  resourceSpans?: { resource?: { attributes?: OtlpAttribute[] }; scopeSpans?: { spans?: OtlpSpan[] }[] }[];
}

const valueOf = (value: OtlpValue): unknown => value.stringValue ?? value.boolValue ?? value.doubleValue ?? (value.intValue === undefined ? undefined : Number(value.intValue));
const attributesOf = (attributes: OtlpAttribute[] = []) => Object.fromEntries(attributes.map(({ key, value }) => [key, valueOf(value)]));
const nanosToMs = (nanos: string | number) => Number(BigInt(nanos) / 1000n) / 1000;

export function fromOtlpJson(request: OtlpTraceRequest): SpanRecord[] {
  return (request.resourceSpans ?? []).flatMap(({ resource, scopeSpans }) => {
    const service = attributesOf(resource?.attributes)['service.name'] as string | undefined;
    return (scopeSpans ?? []).flatMap(({ spans }) =>
      (spans ?? []).map((span) => ({
        traceId: span.traceId,
        spanId: span.spanId,
        parentSpanId: span.parentSpanId || undefined,
        name: span.name,
        startMs: nanosToMs(span.startTimeUnixNano),
        durationMs: nanosToMs(span.endTimeUnixNano) - nanosToMs(span.startTimeUnixNano),
        service,
        attributes: attributesOf(span.attributes),
      })),
    );
  });
}

/** The spans of one trace whose parent is not in it (the root, or spans whose parent was not exported). */
export const rootsOf = (spans: readonly SpanRecord[]): SpanRecord[] => {
  const ids = new Set(spans.map((span) => span.spanId));
  return spans.filter((span) => !span.parentSpanId || !ids.has(span.parentSpanId)).sort((a, b) => a.startMs - b.startMs);
};

export const childrenOf = (spans: readonly SpanRecord[], parent: SpanRecord): SpanRecord[] =>
  spans.filter((span) => span.parentSpanId === parent.spanId).sort((a, b) => a.startMs - b.startMs);

/**
 * One line per span: its start after the trace's first span and its duration (ms), its name indented under its
 * parent's, and the service that made it where it changes. A span whose parent is missing starts a tree of its own,
 * marked so (the first one's parent is the caller's span, when the request carried a traceparent).
 */
export function renderTrace(spans: readonly SpanRecord[]): string {
  if (spans.length === 0) return '(no spans)';
  const origin = Math.min(...spans.map((span) => span.startMs));
  const lines = ['   start  duration  span'];
  const ms = (value: number) => value.toFixed(1).padStart(8);
  const walk = (span: SpanRecord, depth: number, service: string | undefined, parentNote: string) => {
    const serviceNote = span.service && span.service !== service ? `  [${span.service}]` : '';
    lines.push(`${ms(span.startMs - origin)}${ms(span.durationMs)}  ${'  '.repeat(depth)}${span.name}${serviceNote}${parentNote}`);
    for (const child of childrenOf(spans, span)) walk(child, depth + 1, span.service, '');
  };
  // The first root's parent, when it has one, is the caller's span (the traceparent it sent); any other root lost its parent.
  rootsOf(spans).forEach((root, index) =>
    walk(root, 0, undefined, !root.parentSpanId ? '' : index === 0 ? '  (under the caller’s span)' : '  (its parent is not in the trace)'),
  );
  return lines.join('\n');
}
