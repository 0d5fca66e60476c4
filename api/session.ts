// The dashboard's browser session: a cookie holding the same bearer token the API accepts (a local login's token,
// or a provider's access token when sign-in goes through OpenID Connect), so a page sees exactly what the API would
// answer that user. HttpOnly keeps it from scripts; SameSite=Lax keeps it off other sites' form posts; Secure
// whenever the request came over https.
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';

export const sessionCookieName = 'ates_session';

/** Cookies are `Secure` whenever the request came over https. */
export const overHttps = (c: Context) => new URL(c.req.url).protocol === 'https:';

export function setSessionCookie(c: Context, token: string, maxAgeSeconds: number): void {
  setCookie(c, sessionCookieName, token, { httpOnly: true, sameSite: 'Lax', secure: overHttps(c), path: '/', maxAge: maxAgeSeconds });
}

export const readSessionCookie = (c: Context): string | undefined => getCookie(c, sessionCookieName);

export function clearSessionCookie(c: Context): void {
  deleteCookie(c, sessionCookieName, { path: '/', secure: overHttps(c) });
}
