// A real OpenID Provider (oidc-provider) in the test process, on its own loopback HTTP server: the company's
// identity provider as aTES sees it. Access tokens are JWTs for the resources below; the test decides the keys, the
// clients, the accounts and which aTES roles their tokens carry.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider, { errors, type ClientMetadata, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';

/** The audience aTES is configured with. */
export const apiAudience = 'urn:ates:api';
/** A resource whose tokens carry aTES's audience but live one second. */
export const shortLivedResource = 'urn:ates:short-lived';
/** Another service's resource: its tokens are not for aTES. */
export const otherResource = 'urn:payroll:api';

export interface Account {
  name?: string;
  email?: string;
  /** Put where the API reads roles from (see `rolesClaimValue`). */
  roles?: string[];
}

export interface OpenIdProvider {
  issuer: string;
  /** (Re)builds the provider: the first key of `keys` signs, every key is published. Grants and sessions start afresh. */
  configure(options: { keys: JWK[]; clients: ClientMetadata[]; accounts: Record<string, Account> }): void;
  /** The account that signs in when an authorization request names none in `login_hint`. */
  signInAs(accountId: string): void;
  /** Answers every request with 503, as a provider that is down. */
  goDown(): void;
  stop(): Promise<void>;
}

/** An RS256 signing key with its own `kid`, private parts included (the provider signs with it). */
export async function signingKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

/**
 * The roles as Keycloak puts them (`realm_access.roles`), beside its own default roles which aTES must ignore. A
 * client-credentials token's account is its client.
 */
const rolesClaim = (account: Account | undefined) =>
  account?.roles ? { realm_access: { roles: ['offline_access', 'uma_authorization', ...account.roles] } } : {};

export async function startOpenIdProvider(): Promise<OpenIdProvider> {
  let handle: http.RequestListener | undefined;
  const server = http.createServer((req, res) => {
    if (!handle) {
      res.writeHead(503).end();
      return;
    }
    handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let defaultAccount = '';

  return {
    issuer,
    configure({ keys, clients, accounts }) {
      const configuration: Configuration = {
        clients,
        jwks: { keys },
        cookies: { keys: [randomUUID()] },
        features: {
          devInteractions: { enabled: false },
          clientCredentials: { enabled: true },
          resourceIndicators: {
            enabled: true,
            defaultResource: () => apiAudience,
            useGrantedResource: () => true,
            getResourceServerInfo: (_ctx, resource) => {
              if (resource === apiAudience) return { scope: 'api', audience: apiAudience, accessTokenFormat: 'jwt', accessTokenTTL: 600 };
              if (resource === shortLivedResource) return { scope: 'api', audience: apiAudience, accessTokenFormat: 'jwt', accessTokenTTL: 1 };
              if (resource === otherResource) return { scope: 'api', audience: otherResource, accessTokenFormat: 'jwt', accessTokenTTL: 600 };
              throw new errors.InvalidTarget();
            },
          },
        },
        // Access tokens live as long as their resource says (one second for `shortLivedResource`).
        ttl: {
          AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 600,
          ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 600,
          AuthorizationCode: 60,
          IdToken: 600,
          Interaction: 600,
          Grant: 600,
          Session: 600,
        },
        interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
        findAccount: (_ctx, id) =>
          accounts[id] ? { accountId: id, claims: () => ({ sub: id, name: accounts[id]!.name, email: accounts[id]!.email }) } : undefined,
        extraTokenClaims: (_ctx, token) => {
          const account = accounts['accountId' in token && token.accountId ? token.accountId : token.clientId!];
          return { ...rolesClaim(account), name: account?.name, email: account?.email };
        },
        loadExistingGrant: grantEverything,
      };
      const provider = new Provider(issuer, configuration);
      const callback = provider.callback();
      handle = (req, res) => {
        // The login page: the account named by `login_hint` (or the default one) signs in at once, with no form.
        if (req.url?.startsWith('/interaction/')) {
          void (async () => {
            const details = await provider.interactionDetails(req, res);
            const accountId = String(details.params.login_hint ?? defaultAccount);
            await provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
          })().catch((error: unknown) => res.writeHead(500).end(String(error)));
          return;
        }
        callback(req, res);
      };
    },
    signInAs(accountId) {
      defaultAccount = accountId;
    },
    goDown() {
      handle = undefined;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Consent is the company's business, not this test's: every client gets what it asks for. */
async function grantEverything(ctx: KoaContextWithOIDC) {
  const session = ctx.oidc.session!;
  const client = ctx.oidc.client!;
  const existing = ctx.oidc.result?.consent?.grantId ?? session.grantIdFor(client.clientId);
  if (existing) return ctx.oidc.provider.Grant.find(existing);
  const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId! });
  grant.addOIDCScope('openid profile email');
  grant.addResourceScope(apiAudience, 'api');
  await grant.save();
  return grant;
}
