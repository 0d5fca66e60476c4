// Access tokens of an OpenID Connect provider, accepted beside the API's own HS256 tokens (api/security.ts sends
// here every token whose `iss` is the configured issuer). The provider's keys come from its discovery document's
// `jwks_uri`; a token signed with a key not seen yet has the key set fetched again, so the provider's key rotation
// needs nothing from aTES.
import { z } from '@hono/zod-openapi';
import { createRemoteJWKSet, decodeJwt, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { roles, type Role } from '../db/schema/auth.js';
import { LastAdminError, providerUser, type PublicUser } from '../lib/auth/users.js';
import type { OidcConfig } from '../lib/config.js';
import type { ApiDeps } from './deps.js';
import { ProblemError, problems } from './problem.js';

/**
 * How soon after fetching the key set an unknown `kid` may fetch it again: a rotated key is picked up within this
 * time of its first token, while tokens with made-up `kid`s cost the provider at most one fetch per interval.
 */
export const keySetRefetchCooldownMs = 5_000;
/** How long a call to the provider (discovery, key set, token endpoint) may take before it counts as out of reach. */
export const providerTimeoutMs = 5_000;

/** What aTES reads from the discovery document. */
const DiscoveryDocument = z.object({
  issuer: z.string(),
  jwks_uri: z.url(),
  // Needed only by the dashboard's sign-in (api/oidc-sign-in.ts).
  authorization_endpoint: z.url().optional(),
  token_endpoint: z.url().optional(),
});
type DiscoveryDocument = z.infer<typeof DiscoveryDocument>;

/** The discovery document or the key set cannot be had: answered 503, the request may be retried. */
class ProviderUnreachableError extends Error {
  override name = 'ProviderUnreachableError';
}

/** Signature algorithms of public keys: a provider never signs with a secret aTES would share. */
const algorithms = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

/** Verification failures that say the token is bad, not that the provider is out of reach. */
const badKey = [errors.JWKSNoMatchingKey, errors.JWKSMultipleMatchingKeys, errors.JOSENotSupported, errors.JOSEAlgNotAllowed];

/** One per process and configuration: the discovery document and key set are fetched on first use and kept. */
export class IdentityProvider {
  private discovery?: Promise<DiscoveryDocument>;
  private keys?: JWTVerifyGetKey;

  constructor(
    readonly config: OidcConfig,
    private readonly log: ApiDeps['log'],
  ) {}

  /** Whether the token claims to come from this provider: unverified, it only picks the way it is verified. */
  issued(token: string): boolean {
    try {
      return decodeJwt(token).iss === this.config.issuer;
    } catch {
      return false;
    }
  }

  /** The discovery document; a failed fetch is not kept, so the next request tries again. */
  private discover(): Promise<DiscoveryDocument> {
    this.discovery ??= this.fetchDiscovery().catch((error: unknown) => {
      this.discovery = undefined;
      throw error;
    });
    return this.discovery;
  }

  /** The access token's verified claims: signed by the provider's key, from its issuer, for aTES's audience, unexpired. */
  verify(token: string): Promise<JWTPayload & { sub: string }> {
    return this.verifyFor(token, this.config.audience, 'the bearer token is invalid or expired');
  }

  /**
   * An ID token from the dashboard's sign-in: for the dashboard's client, and answering the sign-in this browser
   * started (its nonce), so a code and token obtained elsewhere cannot be slipped into this browser's session.
   */
  async verifySignIn(idToken: string, clientId: string, nonce: string): Promise<void> {
    const claims = await this.verifyFor(idToken, clientId, 'the identity provider’s ID token is invalid or expired');
    if (claims.nonce !== nonce) throw problems.unauthorized('the identity provider’s ID token answers another sign-in (nonce)');
  }

  private async verifyFor(token: string, audience: string, refusal: string): Promise<JWTPayload & { sub: string }> {
    try {
      const { payload } = await jwtVerify<JWTPayload & { sub: string }>(token, await this.keySet(), {
        issuer: this.config.issuer,
        audience,
        algorithms,
        requiredClaims: ['exp', 'sub'],
      });
      return payload;
    } catch (error) {
      if (error instanceof ProviderUnreachableError) throw this.unreachable(error.message);
      throw problems.unauthorized(refusal);
    }
  }

  private async keySet(): Promise<JWTVerifyGetKey> {
    if (this.keys) return this.keys;
    const remote = createRemoteJWKSet(new URL((await this.discover()).jwks_uri), {
      cooldownDuration: keySetRefetchCooldownMs,
      timeoutDuration: providerTimeoutMs,
    });
    this.keys = async (header, token) => {
      try {
        return await remote(header, token);
      } catch (error) {
        if (badKey.some((kind) => error instanceof kind)) throw error;
        throw new ProviderUnreachableError(`the key set cannot be fetched: ${describeError(error)}`, { cause: error });
      }
    };
    return this.keys;
  }

  private async fetchDiscovery(): Promise<DiscoveryDocument> {
    const url = `${this.config.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    let body: unknown;
    try {
      const response = await fetch(url, { headers: { Accept: 'application/json' }, signal: AbortSignal.timeout(providerTimeoutMs) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      body = await response.json();
    } catch (error) {
      throw new ProviderUnreachableError(`the discovery document ${url} cannot be fetched: ${describeError(error)}`, { cause: error });
    }
    const parsed = DiscoveryDocument.safeParse(body);
    if (!parsed.success) throw new ProviderUnreachableError(`the discovery document ${url} is malformed: ${parsed.error.message}`);
    // OpenID Connect Discovery: the document must name the issuer it was fetched for, or its keys are not that issuer's.
    if (parsed.data.issuer !== this.config.issuer) {
      throw new ProviderUnreachableError(`the discovery document ${url} names the issuer ${parsed.data.issuer}, not ${this.config.issuer}`);
    }
    return parsed.data;
  }

  /** Where a browser signs in and a code is exchanged; 503 when the provider cannot be reached or names neither. */
  async endpoints(): Promise<{ authorization: string; token: string }> {
    try {
      const { authorization_endpoint: authorization, token_endpoint: token } = await this.discover();
      if (!authorization || !token) throw new ProviderUnreachableError('the discovery document names no authorization or token endpoint');
      return { authorization, token };
    } catch (error) {
      if (!(error instanceof ProviderUnreachableError)) throw error;
      throw this.unreachable(error.message);
    }
  }

  /** The provider is out of reach for the request under way: logged, and answered 503. */
  unreachable(reason: string): ProblemError {
    this.log.warn(`identity provider ${this.config.issuer}: ${reason}`);
    return new ProblemError(503, 'unavailable', 'the identity provider cannot be reached; retry after Retry-After seconds', undefined, { 'Retry-After': '5' });
  }
}

const describeError = (error: unknown): string => {
  const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
  return `${error instanceof Error ? error.message : String(error)}${cause}`;
};

const providers = new WeakMap<OidcConfig, IdentityProvider>();

/** The process's provider for this configuration, built on first use; undefined when none is configured. */
export function identityProvider(deps: Pick<ApiDeps, 'config' | 'log'>): IdentityProvider | undefined {
  const { oidc } = deps.config;
  if (!oidc) return undefined;
  let provider = providers.get(oidc);
  if (!provider) providers.set(oidc, (provider = new IdentityProvider(oidc, deps.log)));
  return provider;
}

/**
 * The claim at `path`: a claim of that very name first (Auth0's namespaced claims are URLs, dots and all), else a
 * dotted path into nested claims (Keycloak's `realm_access.roles`).
 */
function claimAt(payload: Record<string, unknown>, path: string): unknown {
  if (Object.hasOwn(payload, path)) return payload[path];
  let value: unknown = payload;
  for (const key of path.split('.')) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/**
 * The aTES role a token's roles claim names (a string or an array of strings; other values are the provider's own
 * and ignored). With several, the most privileged, in the order of `roles`: admin, manager, accountant, worker,
 * reviewer, client.
 */
export function roleFromClaims(payload: Record<string, unknown>, claim: string): Role | undefined {
  const value = claimAt(payload, claim);
  const names = typeof value === 'string' ? [value] : Array.isArray(value) ? value.filter((name) => typeof name === 'string') : [];
  return roles.find((role) => names.includes(role));
}

const Email = z.email().max(254);
const text = (value: unknown) => (typeof value === 'string' && value.trim() !== '' ? value.trim().slice(0, 200) : undefined);

/**
 * The active user a provider's access token stands for, created on first sight (lib/auth/users.ts `providerUser`). A token
 * naming no aTES role is refused (403) before any user is created.
 */
export async function userFromProviderToken(deps: ApiDeps, provider: IdentityProvider, token: string): Promise<PublicUser> {
  const claims = await provider.verify(token);
  const { issuer, rolesClaim } = provider.config;
  const role = roleFromClaims(claims, rolesClaim);
  if (!role) {
    const message = `names none of the aTES roles ${roles.join(', ')}`;
    throw new ProblemError(403, 'forbidden', `the token's claim ${rolesClaim} ${message}`, [{ field: rolesClaim, message }]);
  }
  const email = Email.safeParse(claims.email);
  const user = await providerUser(deps.database.db, {
    issuer,
    subject: claims.sub,
    role,
    name: text(claims.name) ?? text(claims.preferred_username),
    email: email.success ? email.data : undefined,
  }).catch((error: unknown) => {
    throw error instanceof LastAdminError ? problems.conflict(error.message, 'last-admin') : error;
  });
  if (user.status !== 'active') throw problems.unauthorized('the user is deactivated or unknown');
  return user;
}
