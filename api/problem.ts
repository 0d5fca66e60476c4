// RFC 9457 problem details: every error the API answers has this shape.
import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { isGrpcServiceError } from '@temporalio/client';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: 'https://ates.dev/problems/validation' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    errors: z
      .array(z.object({ field: z.string(), message: z.string() }))
      .optional()
      .openapi({ description: 'One entry per offending field, as a JSON path into the request.' }),
  })
  .openapi('Problem');
export type Problem = z.infer<typeof ProblemSchema>;

const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Thrown anywhere in a handler; answered as problem+json by the app's error handler. */
export class ProblemError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly type: string,
    detail: string,
    readonly errors?: Problem['errors'],
    readonly headers?: Record<string, string>,
  ) {
    super(detail);
  }
}

export const problems = {
  badRequest: (detail: string, field?: string) =>
    new ProblemError(400, 'bad-request', detail, field ? [{ field, message: detail }] : undefined),
  unauthorized: (detail = 'a valid bearer token is required') =>
    new ProblemError(401, 'unauthorized', detail, undefined, { 'WWW-Authenticate': 'Bearer' }),
  forbidden: (detail: string) => new ProblemError(403, 'forbidden', detail),
  notFound: (what: string) => new ProblemError(404, 'not-found', `${what} not found`),
  conflict: (detail: string, type = 'conflict') => new ProblemError(409, type, detail),
  invalid: (field: string, message: string) =>
    new ProblemError(422, 'validation', `${field}: ${message}`, [{ field, message }]),
  /** Retry-After in whole seconds, at least one. */
  tooManyRequests: (detail: string, retryAfterSeconds: number) =>
    new ProblemError(429, 'too-many-requests', detail, undefined, { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))) }),
};

export function problemResponse(c: Context, problem: ProblemError): Response {
  const body: Problem = {
    type: `https://ates.dev/problems/${problem.type}`,
    title: titles[problem.status] ?? 'Error',
    status: problem.status,
    detail: problem.message,
    ...(problem.errors ? { errors: problem.errors } : {}),
  };
  return c.body(JSON.stringify(body), problem.status, {
    'Content-Type': 'application/problem+json',
    ...problem.headers,
  });
}

/** Where the request went wrong, as a dotted path prefixed by the part of the request. */
export function validationProblem(where: string, error: z.ZodError): ProblemError {
  const errors = error.issues.flatMap((issue) => {
    const path = issue.path.map(String);
    // Unknown keys are reported on their object together; name each key itself.
    if (issue.code === 'unrecognized_keys') {
      // zod's own message lists them all; a schema's own message (such as why a key is not edited) is kept.
      const ownMessage = issue.keys.length === 1 || !issue.message.startsWith('Unrecognized keys');
      return issue.keys.map((key) => ({ field: [where, ...path, key].join('.'), message: ownMessage ? issue.message : `Unrecognized key: "${key}"` }));
    }
    return [{ field: [where, ...path].join('.'), message: issue.message }];
  });
  const detail = errors.map((e) => `${e.field}: ${e.message}`).join('; ');
  return new ProblemError(422, 'validation', detail, errors);
}

export function toProblem(error: unknown): ProblemError | undefined {
  if (error instanceof ProblemError) return error;
  if (error instanceof HTTPException) {
    const status = error.status as ContentfulStatusCode;
    const detail = error.message || titles[status] || 'request refused';
    const type = status === 400 && /json/i.test(detail) ? 'malformed-json' : 'http';
    return new ProblemError(status, type, detail);
  }
  return outageProblem(error);
}

/**
 * gRPC statuses with which Temporal's frontend is out of reach (UNAVAILABLE), did not answer in time
 * (DEADLINE_EXCEEDED) or gave the call up half-way (CANCELLED: on a server of several processes, the frontend's call
 * to a matching or history service that went away).
 */
const temporalOutageCodes = new Set([14, 4, 1]);
/**
 * While its PostgreSQL is down, Temporal's frontend cannot look the namespace up and answers an update-with-start with
 * NOT_FOUND for the namespace itself. The namespace aTES runs in is never the caller's to name: that is an outage too.
 */
const namespaceNotFound = /^Namespace \S+ is not found/;
/**
 * How the PostgreSQL client says the server is out of reach: the socket's errors, postgres.js's own connection codes,
 * and the server's SQLSTATEs for shutting down, starting up and having no connection left (class 08 too).
 */
const databaseOutageCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);

/**
 * PostgreSQL or Temporal cannot be reached (restarting, down, out of connections): a 503 the caller may retry, never
 * a 500. Looks through the error's causes (drizzle and the Temporal client wrap what the driver threw).
 */
export function outageProblem(error: unknown): ProblemError | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (isGrpcServiceError(e) && typeof code === 'number' && (temporalOutageCodes.has(code) || (code === 5 && namespaceNotFound.test(e.message)))) {
      return new ProblemError(503, 'unavailable', 'Temporal cannot be reached; retry after Retry-After seconds', undefined, { 'Retry-After': '5' });
    }
    if (typeof code === 'string' && (databaseOutageCodes.has(code) || code.startsWith('08'))) {
      return new ProblemError(503, 'unavailable', 'the database cannot be reached; retry after Retry-After seconds', undefined, { 'Retry-After': '5' });
    }
  }
  return undefined;
}

/** A documented problem response for route definitions. */
export const problemContent = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: ProblemSchema } },
});
