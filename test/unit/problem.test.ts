// Problem mapping (api/problem.ts, and issueProblem in api/issues.ts): how errors, zod issues and the issue
// workflow's ApplicationFailure types become RFC 9457 problem+json answers with a status and the offending field.
import { z } from '@hono/zod-openapi';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import type { ApiDeps } from '../../api/deps.js';
import { issueProblem } from '../../api/issues.js';
import { ProblemError, problemResponse, problems, ProblemSchema, toProblem, validationProblem } from '../../api/problem.js';
import { loadConfig } from '../../lib/config.js';

/** The problem a zod schema's failure on `value` maps to, as `where` in the request. */
function problemFor(schema: z.ZodType, value: unknown, where = 'body'): ProblemError {
  const parsed = schema.safeParse(value);
  if (parsed.success) throw new Error(`${JSON.stringify(value)} passed the schema`);
  return validationProblem(where, parsed.error);
}

/** Answers every request with the problem, through problemResponse. */
async function answer(problem: ProblemError): Promise<Response> {
  const app = new Hono();
  app.get('/', (c) => problemResponse(c, problem));
  return app.request('/');
}

describe('problems', () => {
  it.each([
    ['badRequest', problems.badRequest('no'), 400, 'bad-request', 'no'],
    ['unauthorized', problems.unauthorized(), 401, 'unauthorized', 'a valid bearer token is required'],
    ['forbidden', problems.forbidden('not yours'), 403, 'forbidden', 'not yours'],
    ['notFound', problems.notFound('issue 7'), 404, 'not-found', 'issue 7 not found'],
    ['conflict', problems.conflict('taken'), 409, 'conflict', 'taken'],
    ['conflict with a type', problems.conflict('not now', 'event-not-allowed'), 409, 'event-not-allowed', 'not now'],
    ['invalid', problems.invalid('body.title', 'too long'), 422, 'validation', 'body.title: too long'],
    ['tooManyRequests', problems.tooManyRequests('slow down', 1.2), 429, 'too-many-requests', 'slow down'],
  ])('%s: %d %s', (_, problem, status, type, detail) => {
    expect(problem).toBeInstanceOf(ProblemError);
    expect(problem).toBeInstanceOf(Error);
    expect(problem.status).toBe(status);
    expect(problem.type).toBe(type);
    expect(problem.message).toBe(detail);
  });

  it('name the field: invalid always, badRequest when given one', () => {
    expect(problems.invalid('query.limit', 'too big').errors).toEqual([{ field: 'query.limit', message: 'too big' }]);
    expect(problems.badRequest('bad cursor', 'query.after').errors).toEqual([{ field: 'query.after', message: 'bad cursor' }]);
    expect(problems.badRequest('bad').errors).toBeUndefined();
    expect(problems.forbidden('x').errors).toBeUndefined();
  });

  it('unauthorized asks for a bearer token', () => {
    expect(problems.unauthorized('expired').headers).toEqual({ 'WWW-Authenticate': 'Bearer' });
  });

  it('tooManyRequests says when to retry, in whole seconds and at least one', () => {
    expect(problems.tooManyRequests('x', 1.2).headers).toEqual({ 'Retry-After': '2' });
    expect(problems.tooManyRequests('x', 0).headers).toEqual({ 'Retry-After': '1' });
  });
});

describe('problemResponse', () => {
  it('answers application/problem+json with type URI, title, status and detail', async () => {
    const response = await answer(problems.notFound('issue 7'));
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    const body = await response.json();
    expect(body).toEqual({ type: 'https://ates.dev/problems/not-found', title: 'Not Found', status: 404, detail: 'issue 7 not found' });
    expect(ProblemSchema.safeParse(body).success).toBe(true);
  });

  it('includes the field errors and the problem headers', async () => {
    const response = await answer(problems.invalid('body.title', 'too long'));
    expect(await response.json()).toMatchObject({ status: 422, title: 'Unprocessable Content', errors: [{ field: 'body.title', message: 'too long' }] });
    const unauthorized = await answer(problems.unauthorized());
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get('www-authenticate')).toBe('Bearer');
  });

  it.each([
    [409, 'Conflict'],
    [412, 'Precondition Failed'],
    [428, 'Precondition Required'],
    [429, 'Too Many Requests'],
    [503, 'Service Unavailable'],
    [418, 'Error'],
  ] as const)('titles status %d "%s"', async (status, title) => {
    const response = await answer(new ProblemError(status, 'x', 'detail', undefined, { 'Retry-After': '5' }));
    expect(response.status).toBe(status);
    expect(response.headers.get('retry-after')).toBe('5');
    expect((await response.json()).title).toBe(title);
  });
});

describe('validationProblem', () => {
  const Body = z
    .object({
      title: z.string().min(1),
      items: z.array(z.object({ sku: z.string(), quantity: z.number().int().min(0) }).strict()),
      meta: z.object({ tag: z.string() }).optional(),
    })
    .strict();

  it('is a 422 validation problem naming each field as a dotted path under the request part', () => {
    const problem = problemFor(Body, { title: '', items: [{ sku: 'A', quantity: 1 }, { sku: 5, quantity: -1 }], meta: { tag: 1 } });
    expect(problem.status).toBe(422);
    expect(problem.type).toBe('validation');
    expect(problem.errors?.map((e) => e.field)).toEqual(['body.title', 'body.items.1.sku', 'body.items.1.quantity', 'body.meta.tag']);
    expect(problem.errors?.[0]?.message).toBe('Too small: expected string to have >=1 characters');
  });

  it('joins every field and message into the detail', () => {
    const problem = problemFor(z.object({ a: z.string(), b: z.number() }), {}, 'query');
    expect(problem.message).toBe('query.a: Invalid input: expected string, received undefined; query.b: Invalid input: expected number, received undefined');
  });

  it('names an unknown key itself, also inside a list', () => {
    expect(problemFor(Body, { title: 't', items: [], extra: true }).errors).toEqual([{ field: 'body.extra', message: 'Unrecognized key: "extra"' }]);
    expect(problemFor(Body, { title: 't', items: [{ sku: 'A', quantity: 1, note: 'x' }] }).errors).toEqual([
      { field: 'body.items.0.note', message: 'Unrecognized key: "note"' },
    ]);
    // Several unknown keys of one object: one error each, not one path made of them all.
    expect(problemFor(Body, { title: 't', items: [], rewardCents: 1, assigneeId: 'me' }).errors).toEqual([
      { field: 'body.rewardCents', message: 'Unrecognized key: "rewardCents"' },
      { field: 'body.assigneeId', message: 'Unrecognized key: "assigneeId"' },
    ]);
  });

  it('names the request part itself when the whole value is wrong', () => {
    expect(problemFor(Body, 'text').errors).toEqual([{ field: 'body', message: 'Invalid input: expected object, received string' }]);
  });

  it('keeps custom messages of refinements', () => {
    const Patch = z.object({ name: z.string().optional() }).refine((b) => Object.keys(b).length > 0, 'name at least one field');
    expect(problemFor(Patch, {}).errors).toEqual([{ field: 'body', message: 'name at least one field' }]);
  });
});

describe('toProblem', () => {
  it('passes a ProblemError through as it is', () => {
    const problem = problems.conflict('x');
    expect(toProblem(problem)).toBe(problem);
  });

  it('maps malformed JSON to 400 malformed-json', () => {
    const problem = toProblem(new HTTPException(400, { message: 'Malformed JSON in request body' }));
    expect(problem).toMatchObject({ status: 400, type: 'malformed-json', message: 'Malformed JSON in request body' });
  });

  it('maps other HTTP exceptions to their status, type http', () => {
    expect(toProblem(new HTTPException(400, { message: 'bad header' }))).toMatchObject({ status: 400, type: 'http', message: 'bad header' });
    expect(toProblem(new HTTPException(415))).toMatchObject({ status: 415, type: 'http', message: 'Unsupported Media Type' });
    expect(toProblem(new HTTPException(418))).toMatchObject({ status: 418, type: 'http', message: 'request refused' });
  });

  it.each([
    ['an Error', new Error('boom')],
    ['a TypeError', new TypeError('x is undefined')],
    ['a string', 'boom'],
    ['undefined', undefined],
    ['an ApplicationFailure', ApplicationFailure.nonRetryable('no', 'Issue.GuardRejected')],
  ])('leaves %s unmapped (the app answers 500)', (_, error) => {
    expect(toProblem(error)).toBeUndefined();
  });
});

describe('issueProblem: the issue workflow refusing an update', () => {
  const refused = (type: string, message = 'refused') => new WorkflowUpdateFailedError('Workflow Update failed', ApplicationFailure.nonRetryable(message, type));

  it('a rejected guard is 403 forbidden, with the workflow message', () => {
    const problem = issueProblem(refused('Issue.GuardRejected', 'you may not send "complete" to this issue now'));
    expect(problem).toMatchObject({ status: 403, type: 'forbidden', message: 'you may not send "complete" to this issue now' });
  });

  it('an event not allowed now is 409 event-not-allowed', () => {
    const problem = issueProblem(refused('Issue.EventNotAllowed', '"complete" is not allowed in state assigning'));
    expect(problem).toMatchObject({ status: 409, type: 'event-not-allowed', message: '"complete" is not allowed in state assigning' });
  });

  it.each([
    ['another failure type', refused('Issue.BadContext')],
    ['an update failure without cause', new WorkflowUpdateFailedError('failed', undefined)],
    ['an update failure caused by a plain Error', new WorkflowUpdateFailedError('failed', new Error('x'))],
    ['a bare ApplicationFailure', ApplicationFailure.nonRetryable('no', 'Issue.GuardRejected')],
    ['a plain Error', new Error('Issue.GuardRejected')],
  ])('leaves %s unmapped', (_, error) => {
    expect(issueProblem(error)).toBeUndefined();
  });
});

describe('the app error handler (createApp, no database or Temporal behind it)', () => {
  const logged: unknown[][] = [];
  const log = { error: (...args: unknown[]) => void logged.push(args), warn: () => {}, info: () => {}, debug: () => {} };
  // Nothing here reaches the database or Temporal except the 500 case, which is the point of it.
  const deps = { config: loadConfig({}), database: {}, temporal: {}, jwtSecret: 'x'.repeat(32), log } as unknown as ApiDeps;
  const app = createApp(deps);
  const post = (path: string, body: string, contentType = 'application/json') =>
    app.request(path, { method: 'POST', headers: { 'content-type': contentType }, body });

  it('an unknown route is a 404 problem naming method and path', async () => {
    const response = await app.request('/no/such/route');
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toMatchObject({ type: 'https://ates.dev/problems/not-found', detail: 'no route for GET /no/such/route' });
  });

  it('malformed JSON is a 400 malformed-json problem', async () => {
    const response = await post('/auth/login', '{"email":');
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ type: 'https://ates.dev/problems/malformed-json', status: 400 });
  });

  it('a body failing its schema is a 422 naming each field under body, unknown keys included', async () => {
    const response = await post('/auth/login', JSON.stringify({ email: 'not-an-email', extra: 1 }));
    expect(response.status).toBe(422);
    const body = await response.json();
    expect(body.type).toBe('https://ates.dev/problems/validation');
    expect(body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['body.email', 'body.extra', 'body.password']);
  });

  it('a body over 1 MiB is a 413 that closes the connection', async () => {
    const response = await post('/auth/login', 'x'.repeat(1024 * 1024 + 1));
    expect(response.status).toBe(413);
    expect(response.headers.get('connection')).toBe('close');
    expect((await response.json()).type).toBe('https://ates.dev/problems/payload-too-large');
  });

  it('an unexpected error is a logged 500 that shows nothing of the error', async () => {
    logged.length = 0;
    const response = await post('/auth/login', JSON.stringify({ email: 'someone@example.com', password: 'secret' }));
    expect(response.status).toBe(500);
    const body = await response.json();
    expect(body).toEqual({
      type: 'https://ates.dev/problems/internal',
      title: 'Internal Server Error',
      status: 500,
      detail: 'an unexpected error occurred; it has been logged',
    });
    expect(logged).toHaveLength(1);
    expect(logged[0]?.[0]).toBe('POST /auth/login failed');
  });
});

describe('outageProblem', () => {
  const withCode = (code: unknown, extra: Record<string, unknown> = {}) => Object.assign(new Error('down'), { code, ...extra });
  // What @temporalio/client throws for an RPC: a gRPC ServiceError (details and metadata) with its status code.
  const grpc = (code: number) => withCode(code, { details: 'connect ECONNREFUSED', metadata: {} });

  it.each([
    ['a refused PostgreSQL connection', withCode('ECONNREFUSED'), /database/],
    ['a server shutting down, wrapped by drizzle', new Error('Failed query', { cause: withCode('57P01') }), /database/],
    ['a connection exception (class 08)', withCode('08006'), /database/],
    ['postgres.js losing its connection', withCode('CONNECTION_CLOSED'), /database/],
    ['Temporal unavailable', grpc(14), /Temporal/],
    ['Temporal not answering in time, wrapped', new Error('query failed', { cause: grpc(4) }), /Temporal/],
    ['Temporal giving a query up half-way, wrapped', new Error('Failed to query Workflow', { cause: grpc(1) }), /Temporal/],
    // What update-with-start answered while the PostgreSQL of a Temporal cluster restarted.
    ['Temporal not finding its namespace', Object.assign(grpc(5), { message: 'Namespace default is not found.' }), /Temporal/],
  ])('is a 503 with Retry-After for %s', (_, error, names) => {
    const problem = toProblem(error);
    expect(problem).toMatchObject({ status: 503, type: 'unavailable', message: expect.stringMatching(names) });
    expect(problem!.headers).toEqual({ 'Retry-After': '5' });
  });

  it.each([
    ['a unique violation', withCode('23505')],
    ['a Temporal refusal (NOT_FOUND)', grpc(5)],
    ['a plain error', new Error('bug')],
  ])('leaves %s to the 500 handler', (_, error) => {
    expect(toProblem(error)).toBeUndefined();
  });
});
