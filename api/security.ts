// Bearer-token authentication and role checks, as route middleware.
import { eq } from 'drizzle-orm';
import { createMiddleware } from 'hono/factory';
import { sign, verify } from 'hono/jwt';
import { users, type Role } from '../db/schema/auth.js';
import { toPublicUser, type PublicUser } from '../lib/auth/users.js';
import type { ApiDeps, AppEnv } from './deps.js';
import { identityProvider, userFromProviderToken } from './oidc.js';
import { problems } from './problem.js';

export async function issueToken(deps: ApiDeps, user: PublicUser): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return sign({ sub: user.id, role: user.role, iat: now, exp: now + deps.config.jwt.ttlSeconds }, deps.jwtSecret, 'HS256');
}

// The canonical uuid form: a token with any other `sub` is a 401, never a failed query.
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The active user a token stands for. The token is verified and the user re-read, so a deactivated user's old
 * tokens stop working at once. The bearer header and the dashboard's session cookie both come through here.
 * A token whose issuer is the configured identity provider is the provider's to verify (api/oidc.ts); any other is
 * one of the API's own.
 */
export async function userFromToken(deps: ApiDeps, token: string): Promise<PublicUser> {
  const provider = identityProvider(deps);
  if (provider?.issued(token)) return userFromProviderToken(deps, provider, token);
  let subject: unknown;
  try {
    subject = (await verify(token, deps.jwtSecret, 'HS256')).sub;
  } catch {
    throw problems.unauthorized('the bearer token is invalid or expired');
  }
  if (typeof subject !== 'string' || !uuidPattern.test(subject)) throw problems.unauthorized('the bearer token is invalid');
  const [user] = await deps.database.db.select().from(users).where(eq(users.id, subject));
  if (!user || user.status !== 'active') throw problems.unauthorized('the user is deactivated or unknown');
  return toPublicUser(user);
}

export function authenticate(deps: ApiDeps) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const header = c.req.header('Authorization') ?? '';
    const match = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(header);
    if (!match?.[1]) throw problems.unauthorized();
    c.set('user', await userFromToken(deps, match[1]));
    await next();
  });
}

/** Only callers of these roles pass: the API's routes, and the dashboard's pages, which show what the API answers them. */
export function requireRole<E extends AppEnv = AppEnv>(...roles: Role[]) {
  return createMiddleware<E>(async (c, next) => {
    const { role } = c.get('user');
    if (!roles.includes(role)) throw problems.forbidden(`this needs the role ${roles.join(' or ')}; you are ${role}`);
    await next();
  });
}

/**
 * What a route for signed-in callers spreads into `createRoute`: the bearer token it documents, and the middleware
 * that checks it and, when roles are named, that the caller has one of them.
 */
export function signedIn(deps: ApiDeps, ...roles: Role[]): { security: { bearer: string[] }[]; middleware: ReturnType<typeof authenticate>[] } {
  return {
    security: [{ bearer: [] }],
    middleware: roles.length ? [authenticate(deps), requireRole(...roles)] : [authenticate(deps)],
  };
}
