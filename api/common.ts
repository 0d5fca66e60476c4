// Pieces every router uses: id params, page queries and answers, idempotent POSTs, JSON bodies.
import { OpenAPIHono, z } from '@hono/zod-openapi';
import { and, eq, sql } from 'drizzle-orm';
import type { Context } from 'hono';
import { createHash } from 'node:crypto';
import { transaction, type Transaction, type Tx } from '../db/client.js';
import { keyset, type KeysetOptions } from '../db/paging.js';
import { idempotencyKeys } from '../db/schema/platform.js';
import type { ApiDeps, AppEnv } from './deps.js';
import { problemContent, problems, validationProblem } from './problem.js';

export const IdParam = z.object({
  id: z.uuid().openapi({ param: { name: 'id', in: 'path' }, example: '0b6f1c1e-8d7e-4c1a-9a53-4c2f1a7e2b10' }),
});

export const PageQuery = z.object({
  after: z.string().max(200).optional().openapi({ description: 'Cursor from the previous page (`nextCursor`).' }),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/** Keyset paging for a list route (db/paging.ts): a cursor the API did not hand out is a 422 naming `query.after`. */
export const pages = (columns: KeysetOptions['columns'], order: KeysetOptions['order']) =>
  keyset({ columns, order, invalid: () => problems.invalid('query.after', 'not a cursor this API returned') });

export const page = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() });

export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  content: { 'application/json': { schema } },
  required: true,
});

export const jsonContent = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

export const authResponses = {
  401: problemContent('No token, or an invalid, expired or deactivated one.'),
  403: problemContent('The caller lacks the role this needs.'),
};
export const validationResponses = { 422: problemContent('The request does not match the schema; `errors` names each field.') };

/** What the framework answers on its own before a handler runs, for every route with a JSON body. */
const bodyResponses = {
  400: problemContent('The body is not valid JSON.'),
  413: problemContent('The body is larger than 1 MiB.'),
  415: problemContent('The body is not `application/json`.'),
};

/**
 * Documents the answers every route can give without saying so itself, so the OpenAPI document lists every
 * status the API sends: 422 wherever a request part is validated, and the body answers where there is a body.
 * A route's own description of a status wins.
 */
export function documentFrameworkResponses(app: OpenAPIHono<AppEnv>): void {
  for (const definition of app.openAPIRegistry.definitions) {
    if (definition.type !== 'route') continue;
    const { request, responses } = definition.route;
    const validated = request && Object.values(request).some((part) => part !== undefined);
    definition.route.responses = {
      ...(validated ? validationResponses : {}),
      ...(request?.body ? bodyResponses : {}),
      ...responses,
    };
  }
}

export const IdempotencyHeaders = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(200)
    .optional()
    .openapi({
      description: 'A retry with the same key answers with the first result and creates nothing new; the key reused for a different request (method, path or body) is a 422.',
    }),
});

/** A POST carrying an Idempotency-Key: where its answer is kept, and what it asked for. */
interface KeyedRequest {
  scope: string;
  key: string;
  requestHash: string;
}

/** JSON with every object's keys sorted, so the same request hashes alike however its client laid out the body. */
const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_key, item: unknown) =>
    item !== null && typeof item === 'object' && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item,
  ) ?? 'null';

async function keyedRequest(c: Context<AppEnv>, route: string): Promise<KeyedRequest | undefined> {
  const key = c.req.header('Idempotency-Key');
  if (!key) return undefined;
  if (key.length > 200) throw problems.invalid('header.idempotency-key', 'at most 200 characters');
  // The route's validator parsed the body already; this reads the same parse again.
  const body: unknown = c.req.header('content-type')?.includes('json') ? await c.req.json() : null;
  const requestHash = createHash('sha256').update(`${c.req.method} ${c.req.path}\n${canonicalJson(body)}`).digest('hex');
  return { scope: `${c.get('user').id}:${route}`, key, requestHash };
}

/**
 * The answer stored for the key, if any. A key already used for another request (method, path or body) is
 * refused: answering the first request's result would tell the caller their new request was carried out.
 */
async function storedAnswer<T>(tx: Tx, request: KeyedRequest): Promise<{ status: 201; body: T } | undefined> {
  const [row] = await tx
    .select()
    .from(idempotencyKeys)
    .where(and(eq(idempotencyKeys.scope, request.scope), eq(idempotencyKeys.key, request.key)));
  if (!row) return undefined;
  // Answers stored before requests were hashed have no hash: they are answered as before.
  if (row.requestHash !== null && row.requestHash !== request.requestHash) {
    throw problems.invalid('header.idempotency-key', 'this key was used for a different request; use a new key for a new request');
  }
  return { status: row.status as 201, body: row.body as T };
}

const storedAnswerRow = (request: KeyedRequest, result: { status: 201; body: unknown }) => ({
  scope: request.scope,
  key: request.key,
  requestHash: request.requestHash,
  status: result.status,
  body: result.body as object,
});

/**
 * Runs `create` once per (caller, route, Idempotency-Key); a retry of the same request gets the stored first
 * answer, and the key used for another request a 422. Without a key it simply runs. The answer is stored after
 * `create` returns, so `create` must itself be idempotent by the key (a workflow started under an id made from
 * it); database writes that are not go through `idempotentTransaction`.
 */
export async function idempotent<T>(
  c: Context<AppEnv>,
  deps: ApiDeps,
  route: string,
  create: () => Promise<{ status: 201; body: T }>,
): Promise<{ status: 201; body: T }> {
  const request = await keyedRequest(c, route);
  if (!request) return create();
  const { db } = deps.database;
  const first = await storedAnswer<T>(db, request);
  if (first) return first;
  const result = await create();
  const [stored] = await db.insert(idempotencyKeys).values(storedAnswerRow(request, result)).onConflictDoNothing().returning();
  // A concurrent retry stored its answer first: both callers get that one.
  return stored ? result : ((await storedAnswer<T>(db, request)) ?? result);
}

/**
 * Like `idempotent`, for a `create` that writes only to the database: it runs in one transaction with the
 * storing of its answer, so either both commit or neither does, and a retry after any failure creates once.
 * Requests with the same key queue on a lock of the key, so a concurrent retry waits and gets the stored answer.
 */
export async function idempotentTransaction<T>(
  c: Context<AppEnv>,
  deps: ApiDeps,
  route: string,
  create: (tx: Transaction) => Promise<{ status: 201; body: T }>,
): Promise<{ status: 201; body: T }> {
  const request = await keyedRequest(c, route);
  const { db } = deps.database;
  if (!request) return transaction(db, route, create);
  return transaction(db, route, async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`ates.idempotency:${request.scope}:${request.key}`}, 0))`);
    const first = await storedAnswer<T>(tx, request);
    if (first) return first;
    const result = await create(tx);
    await tx.insert(idempotencyKeys).values(storedAnswerRow(request, result));
    return result;
  });
}

const requestPart: Record<string, string> = { json: 'body', query: 'query', param: 'path', header: 'header', form: 'body' };

/** JSON nesting deeper than this is refused: nothing the API takes needs more, and deeper input only costs. */
export const maxInputDepth = 64;

/** What is wrong with the first ill-formed string or too-deep value, and where (a path of keys). */
interface IllFormed {
  path: string[];
  message: string;
}

const loneSurrogate = /\p{Surrogate}/u;
const illFormedText = (text: string): string | undefined =>
  text.includes('\u0000')
    ? 'must not contain the NUL character (U+0000)'
    : loneSurrogate.test(text)
      ? 'must be well-formed Unicode (a lone UTF-16 surrogate is not)'
      : undefined;

/**
 * The first string (value or key) PostgreSQL could not store or that is not well-formed Unicode, or the first
 * value nested deeper than `maxInputDepth`. Linear in the input's size: each node is visited once and a path
 * is built only for the node reported.
 */
export function findIllFormed(value: unknown): IllFormed | undefined {
  interface Node {
    value: unknown;
    key: string;
    parent: number;
    depth: number;
  }
  const nodes: Node[] = [{ value, key: '', parent: -1, depth: 0 }];
  const pathOf = (index: number, last?: string): string[] => {
    const path = last === undefined ? [] : [last];
    for (let at = index; at > 0; at = nodes[at]!.parent) path.push(nodes[at]!.key);
    return path.reverse();
  };
  for (let index = 0; index < nodes.length; index++) {
    const node = nodes[index]!;
    if (typeof node.value === 'string') {
      const message = illFormedText(node.value);
      if (message) return { path: pathOf(index), message };
    } else if (node.value !== null && typeof node.value === 'object') {
      if (node.depth >= maxInputDepth) return { path: pathOf(index), message: `must not nest deeper than ${maxInputDepth} levels` };
      for (const [key, child] of Object.entries(node.value)) {
        const message = illFormedText(key);
        if (message) return { path: pathOf(index, key), message: `has a key that ${message}` };
        nodes.push({ value: child, key, parent: index, depth: node.depth + 1 });
      }
    }
  }
  return undefined;
}

/**
 * A router whose schema failures become 422 problem+json naming each field. Validated input (body, query, path,
 * headers) that PostgreSQL could not store, that is not well-formed Unicode, or that nests too deep is refused
 * the same way, so it never reaches a workflow or the database.
 */
export const createRouter = () =>
  new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      const where = requestPart[result.target] ?? result.target;
      if (!result.success) throw validationProblem(where, result.error);
      // A JSON body was checked whole before routing (api/app.ts); the rest of the request is checked here.
      if (result.target === 'json') return;
      const illFormed = findIllFormed(result.data);
      if (illFormed) throw problems.invalid([where, ...illFormed.path].join('.'), illFormed.message);
    },
  });
