// Auth context: login, the caller, and user management (admin). Users are never deleted.
import { createRoute, z } from '@hono/zod-openapi';
import { getConnInfo } from '@hono/node-server/conninfo';
import { and, eq, getTableColumns } from 'drizzle-orm';
import type { Context } from 'hono';
import { accountKey, addressKey, beginLoginAttempt, settleSuccessfulLogin } from '../lib/auth/login-throttle.js';
import { roles, users, userStatuses } from '../db/schema/auth.js';
import { createUser, EmailTakenError, LastAdminError, toPublicUser, updateUser, type PublicUser } from '../lib/auth/users.js';
import { publishToTopic } from '../lib/issues/topics.js';
import { verifyNobody, verifyPassword } from '../lib/auth/password.js';
import {
  authResponses,
  createRouter,
  IdempotencyHeaders,
  idempotentTransaction,
  IdParam,
  jsonBody,
  jsonContent,
  page,
  PageQuery,
  pages,
  validationResponses,
} from './common.js';
import type { ApiDeps } from './deps.js';
import { ProblemError, problemContent, problems } from './problem.js';
import { issueToken, signedIn } from './security.js';

const Email = z.email().max(254).openapi({ example: 'popug@ates.local' });
const Name = z.string().trim().min(1).max(200);
const Role = z.enum(roles);

export const UserSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    email: z.string(),
    role: Role,
    status: z.enum(userStatuses),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('User');

export const userJson = (user: PublicUser) => ({
  ...user,
  createdAt: user.createdAt.toISOString(),
  updatedAt: user.updatedAt.toISOString(),
});

/** Long rather than clever: at least 12 characters (a few words), at most 200. */
const Password = z.string().min(12, 'at least 12 characters: a few words are easier to remember than symbols').max(200);
const LoginBody = z.object({ email: Email, password: z.string().min(1).max(200) }).strict().openapi('LoginRequest');
const LoginResponse = z.object({ token: z.string(), user: UserSchema }).openapi('LoginResponse');
const CreateUserBody = z
  .object({ name: Name, email: Email, role: Role, password: Password })
  .strict()
  .openapi('CreateUserRequest');
const PatchUserBody = z
  .object({ name: Name.optional(), role: Role.optional(), status: z.enum(userStatuses).optional() })
  .strict()
  .refine((body) => Object.keys(body).length > 0, 'name at least one of name, role, status')
  .openapi('PatchUserRequest', { minProperties: 1 });
const UsersQuery = PageQuery.extend({ role: Role.optional(), status: z.enum(userStatuses).optional() });
const userPages = pages([users.createdAt, users.id], 'asc');


/** The one answer to a throttled login, whichever key is blocked: it tells nothing about the account. */
const throttled = (seconds: number) => problems.tooManyRequests('too many failed logins: try again after Retry-After seconds', seconds);

/**
 * The client's address as the connection shows it. X-Forwarded-For is never read: any client can send one, so
 * trusting it would hand an attacker a fresh address per guess, and the configuration (lib/config.ts) has no
 * setting naming a proxy that sets it. Behind a proxy, clients share its address: the per-address limit is loose.
 */
function clientAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown'; // no Node.js socket behind the request (app.request in tests)
  }
}

/**
 * A local login: e-mail and password to a bearer token, throttled per e-mail (known or not, so the answer tells
 * nothing) and per client address (lib/auth/login-throttle.ts). POST /auth/login and the dashboard's form both come here.
 */
export async function logIn(deps: ApiDeps, c: Context, email: string, password: string): Promise<{ token: string; user: PublicUser }> {
  const { db } = deps.database;
  const [account, address] = [accountKey(email), addressKey(clientAddress(c))];
  const attempt = await beginLoginAttempt(db, [account, address]);
  if (attempt.refused) throw throttled(attempt.retryAfterSeconds);
  const [user] = await db.select().from(users).where(eq(users.email, email.toLowerCase()));
  // The same answer, after the same work, for an unknown e-mail, a wrong password and a deactivated user:
  // neither the message nor the time tells which accounts exist.
  // A user of the identity provider has no local password: refused like an unknown e-mail.
  const passwordMatches = user?.passwordHash ? await verifyPassword(password, user.passwordHash) : await verifyNobody(password);
  if (!user || !passwordMatches || user.status !== 'active') {
    // The attempt is counted already; the failure that started a block answers like the attempts it blocks.
    throw attempt.blocksForSeconds > 0 ? throttled(attempt.blocksForSeconds) : problems.unauthorized('wrong e-mail or password');
  }
  await settleSuccessfulLogin(db, account, address);
  const publicUser = toPublicUser(user);
  return { token: await issueToken(deps, publicUser), user: publicUser };
}

/** Tasks left unassigned for want of a worker listen on this topic (see the task type). */
async function announceAvailableWorker(deps: ApiDeps, user: Pick<PublicUser, 'id' | 'role' | 'status'>) {
  if (user.role !== 'worker' || user.status !== 'active') return;
  await publishToTopic(deps, { topic: 'workers/available', type: 'worker.available', data: { userId: user.id } });
}

export function authRoutes(deps: ApiDeps) {
  const app = createRouter();
  const { db } = deps.database;

  app.openapi(
    createRoute({
      method: 'post',
      path: '/auth/login',
      operationId: 'logIn',
      tags: ['auth'],
      summary: 'Log in with e-mail and password',
      security: [],
      request: { body: jsonBody(LoginBody) },
      responses: {
        200: jsonContent(LoginResponse, 'A bearer token and the user'),
        401: problemContent('Wrong e-mail or password (also for an unknown e-mail or a deactivated user: one answer for all)'),
        429: {
          ...problemContent(
            'Too many failed logins for this e-mail or from this address: after 5 for an e-mail (20 for an address) each ' +
              'further failure blocks it for twice as long as the last (2 s, 4 s, … at most 15 min). While blocked, no ' +
              'password is checked, not even the right one.',
          ),
          headers: { 'Retry-After': { description: 'Whole seconds until the next attempt may be made', schema: { type: 'integer', minimum: 1 } } },
        },
        ...validationResponses,
      },
    }),
    async (c) => {
      const { email, password } = c.req.valid('json');
      const { token, user } = await logIn(deps, c, email, password);
      return c.json({ token, user: userJson(user) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/me',
      operationId: 'getCurrentUser',
      tags: ['auth'],
      summary: 'The caller',
      ...signedIn(deps),
      responses: { 200: jsonContent(UserSchema, 'The caller'), 401: authResponses[401] },
    }),
    (c) => c.json(userJson(c.get('user')), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/users',
      operationId: 'createUser',
      tags: ['users'],
      summary: 'Create a user',
      ...signedIn(deps, 'admin'),
      request: { headers: IdempotencyHeaders, body: jsonBody(CreateUserBody) },
      responses: {
        201: jsonContent(UserSchema, 'The new user (a retry with the same Idempotency-Key gets this same answer)'),
        ...authResponses,
        409: problemContent('The e-mail is taken'),
        ...validationResponses,
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const { status, body: user } = await idempotentTransaction(c, deps, 'POST /users', async (tx) => {
        try {
          return { status: 201, body: userJson(await createUser(tx, body)) };
        } catch (error) {
          if (error instanceof EmailTakenError) throw problems.conflict(error.message, 'email-taken');
          throw error;
        }
      });
      // Announced once the user is committed, and again on a retry, which may follow a failed announcement:
      // a second announcement only has waiting tasks look for a worker again.
      await announceAvailableWorker(deps, user);
      return c.json(user, status);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/users',
      operationId: 'listUsers',
      tags: ['users'],
      summary: 'List users, oldest first',
      ...signedIn(deps, 'admin'),
      request: { query: UsersQuery },
      responses: { 200: jsonContent(page(UserSchema), 'A page of users'), ...authResponses, ...validationResponses },
    }),
    async (c) => {
      const { after, limit, role, status } = c.req.valid('query');
      const rows = await db
        .select(userPages.select(getTableColumns(users)))
        .from(users)
        .where(and(role && eq(users.role, role), status && eq(users.status, status), userPages.after(after)))
        .orderBy(...userPages.orderBy)
        .limit(userPages.fetch(limit));
      const { items, nextCursor } = userPages.page(rows, limit);
      return c.json({ items: items.map((row) => userJson(toPublicUser(row))), nextCursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/users/{id}',
      operationId: 'updateUser',
      tags: ['users'],
      summary: 'Change a user’s name, role or status (deactivate instead of deleting)',
      ...signedIn(deps, 'admin'),
      request: { params: IdParam, body: jsonBody(PatchUserBody) },
      responses: {
        200: jsonContent(UserSchema, 'The changed user'),
        ...authResponses,
        404: problemContent('No such user'),
        409: problemContent('An admin cannot deactivate or demote themselves, nor anyone the last active admin'),
        ...validationResponses,
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const changes = c.req.valid('json');
      if (id === c.get('user').id && (changes.status === 'deactivated' || (changes.role && changes.role !== 'admin'))) {
        throw problems.conflict('an admin cannot deactivate or demote themselves', 'self-lockout');
      }
      const user = await updateUser(db, id, changes).catch((error: unknown) => {
        throw error instanceof LastAdminError ? problems.conflict(error.message, 'last-admin') : error;
      });
      if (!user) throw problems.notFound(`user ${id}`);
      await announceAvailableWorker(deps, user);
      return c.json(userJson(user), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/users/{id}',
      operationId: 'deleteUser',
      tags: ['users'],
      summary: 'Users are never deleted: deactivate them with PATCH',
      // Refused to everyone, with a token or without: nothing to authenticate.
      security: [],
      request: { params: IdParam },
      responses: { 405: problemContent('Always: PATCH status to "deactivated" instead') },
    }),
    () => {
      throw new ProblemError(405, 'method-not-allowed', 'users are never deleted; PATCH status "deactivated" instead', undefined, {
        Allow: 'PATCH',
      });
    },
  );

  return app;
}
