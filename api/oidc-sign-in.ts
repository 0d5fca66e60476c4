// The dashboard's sign-in through the identity provider: the authorization-code flow with PKCE (S256), state and
// nonce, as a public client (`OIDC_CLIENT_ID`, no secret). What the browser must bring back (state, nonce, the PKCE
// verifier, where to go next) waits in a short-lived signed HttpOnly cookie; the provider's access token then becomes
// the dashboard's session cookie (api/session.ts), the same bearer token the API takes from the provider.
import { createHash, randomBytes } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { deleteCookie, getSignedCookie, setSignedCookie } from 'hono/cookie';
import { decodeJwt } from 'jose';
import { createRouter, validationResponses } from './common.js';
import type { ApiDeps } from './deps.js';
import { identityProvider, providerTimeoutMs, type IdentityProvider } from './oidc.js';
import { problemContent, problems } from './problem.js';
import { userFromToken } from './security.js';
import { overHttps, setSessionCookie } from './session.js';

const signInCookieName = 'ates_oidc_sign_in';
const signInPath = '/auth/oidc';
/** Long enough to sign in at the provider (a password, a second factor); a sign-in left longer starts again. */
const signInMaxAgeSeconds = 10 * 60;

/** A path on this site: never another origin (`//evil.example`, `/\evil.example` and absolute URLs are not paths here). */
const ReturnTo = z
  .string()
  .max(2000)
  .refine((path) => path.startsWith('/') && new URL(path, 'http://ates.invalid').origin === 'http://ates.invalid', 'a path on this site, such as /dashboard')
  .default('/dashboard')
  .openapi({ description: 'Where the browser goes once signed in: a path on this site', example: '/dashboard' });

const LoginQuery = z.object({ returnTo: ReturnTo });
const CallbackQuery = z.object({
  code: z.string().max(4096).optional(),
  state: z.string().max(512).optional(),
  error: z.string().max(256).optional(),
  error_description: z.string().max(1024).optional(),
});

/** What the browser keeps, signed, between leaving for the provider and coming back. */
const SignIn = z.object({ state: z.string(), nonce: z.string(), verifier: z.string(), returnTo: z.string() });
const TokenResponse = z.object({ access_token: z.string(), id_token: z.string(), expires_in: z.number().positive().optional() });

const redirect = (description: string) => ({
  description,
  headers: { Location: { description: 'Where the browser goes next', schema: { type: 'string' as const } } },
});
const notConfigured = problemContent('Sign-in through the identity provider is not configured (OIDC_ISSUER and OIDC_CLIENT_ID)');
const unreachable = problemContent('The identity provider cannot be reached; retry after Retry-After seconds');

const randomToken = () => randomBytes(32).toString('base64url');
const callbackUrl = (c: Context) => `${new URL(c.req.url).origin}${signInPath}/callback`;

function signInProvider(deps: ApiDeps): { provider: IdentityProvider; clientId: string } {
  const provider = identityProvider(deps);
  const clientId = provider?.config.clientId;
  if (!provider || !clientId) throw problems.notFound('sign-in through the identity provider');
  return { provider, clientId };
}

/** RFC 8707 asks for the audience as `resource` (an absolute URI); Auth0 reads it as `audience`. */
function audienceParameters(audience: string): Record<string, string> {
  return URL.canParse(audience) ? { resource: audience, audience } : { audience };
}

export function oidcSignInRoutes(deps: ApiDeps) {
  const app = createRouter();

  app.openapi(
    createRoute({
      method: 'get',
      path: `${signInPath}/login`,
      operationId: 'signInWithIdentityProvider',
      tags: ['auth'],
      summary: 'Sign the browser in through the identity provider (redirects there)',
      security: [],
      request: { query: LoginQuery },
      responses: {
        302: redirect('To the provider’s authorization endpoint'),
        404: notConfigured,
        503: unreachable,
        ...validationResponses,
      },
    }),
    async (c) => {
      const { provider, clientId } = signInProvider(deps);
      const { returnTo } = c.req.valid('query');
      const { authorization } = await provider.endpoints();
      const signIn = { state: randomToken(), nonce: randomToken(), verifier: randomToken(), returnTo };
      await setSignedCookie(c, signInCookieName, JSON.stringify(signIn), deps.jwtSecret, {
        httpOnly: true,
        // Lax: the provider sends the browser back with a top-level GET from its own site.
        sameSite: 'Lax',
        secure: overHttps(c),
        path: signInPath,
        maxAge: signInMaxAgeSeconds,
      });
      const url = new URL(authorization);
      for (const [name, value] of Object.entries({
        response_type: 'code',
        client_id: clientId,
        redirect_uri: callbackUrl(c),
        scope: 'openid profile email',
        state: signIn.state,
        nonce: signIn.nonce,
        code_challenge: pkceChallenge(signIn.verifier),
        code_challenge_method: 'S256',
        ...audienceParameters(provider.config.audience),
      })) {
        url.searchParams.set(name, value);
      }
      return c.redirect(url.href, 302);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: `${signInPath}/callback`,
      operationId: 'finishSignInWithIdentityProvider',
      tags: ['auth'],
      summary: 'Where the identity provider sends the browser back: sets the session cookie and redirects to returnTo',
      security: [],
      request: { query: CallbackQuery },
      responses: {
        302: redirect('To the returnTo the sign-in started with, with the session cookie set'),
        400: problemContent('No sign-in under way in this browser (none started, or over 10 minutes ago), or the state does not match it'),
        401: problemContent('The provider refused the sign-in, or its code or tokens do not verify'),
        403: problemContent('The provider’s token names no aTES role'),
        404: notConfigured,
        503: unreachable,
        ...validationResponses,
      },
    }),
    async (c) => {
      const { provider, clientId } = signInProvider(deps);
      const query = c.req.valid('query');
      const stored = await getSignedCookie(c, deps.jwtSecret, signInCookieName);
      // One use: a second visit to the same callback address finds nothing to finish.
      deleteCookie(c, signInCookieName, { path: signInPath, secure: overHttps(c) });
      const signIn = typeof stored === 'string' ? parseSignIn(stored) : undefined;
      if (!signIn) {
        throw problems.badRequest(`no sign-in is under way in this browser: start again at ${signInPath}/login`, `cookie.${signInCookieName}`);
      }
      if (query.state !== signIn.state) throw problems.badRequest('the state does not match the sign-in this browser started', 'query.state');
      if (query.error) throw problems.unauthorized(`the identity provider refused the sign-in: ${query.error_description ?? query.error}`);
      if (!query.code) throw problems.invalid('query.code', 'the authorization code is missing');

      const tokens = await exchangeCode(provider, clientId, { code: query.code, redirectUri: callbackUrl(c), verifier: signIn.verifier });
      await provider.verifySignIn(tokens.id_token, clientId, signIn.nonce);
      // Verified and the user found (or created) as any API call would, so a token the API refuses never becomes a session.
      await userFromToken(deps, tokens.access_token);
      const expiresAt = decodeJwt(tokens.access_token).exp;
      const maxAge = tokens.expires_in ?? (expiresAt ? expiresAt - Math.floor(Date.now() / 1000) : 0);
      setSessionCookie(c, tokens.access_token, Math.max(1, Math.floor(maxAge)));
      return c.redirect(signIn.returnTo, 302);
    },
  );

  return app;
}

function parseSignIn(stored: string): z.infer<typeof SignIn> | undefined {
  try {
    const parsed = SignIn.safeParse(JSON.parse(stored));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

const pkceChallenge = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');

async function exchangeCode(
  provider: IdentityProvider,
  clientId: string,
  { code, redirectUri, verifier }: { code: string; redirectUri: string; verifier: string },
): Promise<z.infer<typeof TokenResponse>> {
  const { token: tokenEndpoint } = await provider.endpoints();
  let response: Response;
  try {
    response = await fetch(tokenEndpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: clientId, code_verifier: verifier }),
      signal: AbortSignal.timeout(providerTimeoutMs),
    });
  } catch (error) {
    throw provider.unreachable(`the token endpoint ${tokenEndpoint} cannot be reached: ${String(error)}`);
  }
  if (response.status >= 500) throw provider.unreachable(`the token endpoint ${tokenEndpoint} answered ${response.status}`);
  const body: unknown = await response.json().catch(() => undefined);
  const tokens = TokenResponse.safeParse(body);
  if (!response.ok || !tokens.success) {
    const error = typeof body === 'object' && body !== null && 'error' in body ? String(body.error) : `HTTP ${response.status}`;
    throw problems.unauthorized(`the identity provider did not exchange the code: ${error}`);
  }
  return tokens.data;
}
