// The API reference page (GET /docs): Scalar's reference over /openapi.json, with every asset served from the
// installed packages, so the page works without internet and its policy lets it load nothing from other hosts.
import { Scalar } from '@scalar/hono-api-reference';
import type { MiddlewareHandler } from 'hono';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import type { AppEnv } from './deps.js';

export const scalarScriptPath = '/docs/scalar.js';

/** Scalar's browser bundle, wherever npm installed it; read and compressed once, at its first request. */
let script: { body: Buffer; gzipped: Buffer; version: string } | undefined;
function scalarScript() {
  if (!script) {
    const body = readFileSync(createRequire(import.meta.url).resolve('@scalar/api-reference/browser/standalone.js'));
    script = { body, gzipped: gzipSync(body), version: createHash('sha256').update(body).digest('hex').slice(0, 16) };
  }
  return script;
}

/**
 * The bundle, cached for a year: the page asks for it under its content hash (`?v=`), so another installed version
 * is another address. About 3.5 MB, 1 MB gzipped.
 */
export const scalarScriptHandler: MiddlewareHandler<AppEnv> = async (c) => {
  const { body, gzipped, version } = scalarScript();
  const gzip = /\bgzip\b/.test(c.req.header('accept-encoding') ?? '');
  return c.body(new Uint8Array(gzip ? gzipped : body), 200, {
    'Content-Type': 'text/javascript; charset=utf-8',
    'Cache-Control': 'public, max-age=31536000, immutable',
    ETag: `"${version}${gzip ? '-gz' : ''}"`,
    Vary: 'Accept-Encoding',
    ...(gzip ? { 'Content-Encoding': 'gzip' } : {}),
  });
};

/**
 * The page: Scalar's own HTML, its script from this API rather than Scalar's CDN, and no web fonts (Scalar would
 * fetch Inter and its mono font from fonts.scalar.com; the system's sans-serif and monospace fonts stand in).
 * Developer tools and the AI agent (both shown on localhost) are off: they talk to scalar.com, which the policy forbids.
 */
const scalarPage = Scalar<AppEnv>(() => ({
  url: '/openapi.json',
  pageTitle: 'aTES API',
  cdn: `${scalarScriptPath}?v=${scalarScript().version}`,
  withDefaultFonts: false,
  showDeveloperTools: 'never',
  agent: { disabled: true },
}));

/**
 * Its policy admits scripts of this origin and exactly the inline script the page holds (by hash), and nothing of
 * any other host: styles are the page's own and those Scalar inserts (inline), images its inline SVG icons (data:),
 * and requests go to this origin only (the document, and "Test Request" against this API).
 */
export const docsPage: MiddlewareHandler<AppEnv> = async (c, next) => {
  const html = await ((await scalarPage(c, next)) as Response).text();
  const inlineScripts = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].map(
    ([, body]) => `'sha256-${createHash('sha256').update(body!).digest('base64')}'`,
  );
  const policy = [
    "default-src 'none'",
    ['script-src', "'self'", ...inlineScripts].join(' '),
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ];
  return c.html(html, 200, { 'Content-Security-Policy': policy.join('; ') });
};
