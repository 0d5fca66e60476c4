// The dashboard's static files: uPlot from the installed package and the dashboard's own stylesheet and script.
// Pages ask for them under their content hash (`?v=`), so they are cached for a year and another version is
// another address. Nothing is loaded from any other host.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Handler } from 'hono';
import { problems } from '../problem.js';
import type { DashboardEnv } from './session.js';

const resolvePackage = createRequire(import.meta.url).resolve;
const here = join(import.meta.dirname, 'assets');

const files: Record<string, { path: () => string; type: string }> = {
  'uPlot.iife.min.js': { path: () => resolvePackage('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  'uPlot.min.css': { path: () => resolvePackage('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
  'dashboard.js': { path: () => join(here, 'dashboard.js'), type: 'text/javascript; charset=utf-8' },
  'dashboard.css': { path: () => join(here, 'dashboard.css'), type: 'text/css; charset=utf-8' },
};

/** Read once, at first use. */
const loaded = new Map<string, { body: Buffer; version: string }>();
function asset(name: string) {
  let file = loaded.get(name);
  if (!file) {
    const body = readFileSync(files[name]!.path());
    file = { body, version: createHash('sha256').update(body).digest('hex').slice(0, 16) };
    loaded.set(name, file);
  }
  return file;
}

export const assetUrl = (name: keyof typeof files & string) => `/dashboard/assets/${name}?v=${asset(name).version}`;

/** GET /dashboard/assets/:name */
export const serveAsset: Handler<DashboardEnv> = (c) => {
  const name = c.req.param('name') ?? '';
  if (!Object.hasOwn(files, name)) throw problems.notFound(`asset ${name}`);
  const { body, version } = asset(name);
  return c.body(new Uint8Array(body), 200, {
    'Content-Type': files[name]!.type,
    'Cache-Control': 'public, max-age=31536000, immutable',
    ETag: `"${version}"`,
  });
};
