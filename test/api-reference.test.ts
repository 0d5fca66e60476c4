// GET /docs with the network cut: a headless Chromium that reaches loopback only (lib/chromium.ts offlineFlags) must
// still render the reference, so every asset has to come from this API (api/docs.ts). The screenshot is kept as
// docs/api-reference.png. Needs Chromium (`apt-get install chromium`; .ci/run installs it).
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumCandidates, findChromium, offlineFlags, runChromium } from '../lib/chromium.js';
import { startHarness, type Harness } from './support/harness.js';

const chromium = findChromium();
const screenshotPath = path.resolve(import.meta.dirname, '../docs/api-reference.png');
/** Chromium shows the page at the README's address (mapped to the test's port), so the picture never changes with the port. */
const shownAt = 'localhost:3000';
const viewport = { width: 1280, height: 900 };
/** A blank page of that size is about 5 KB as PNG; the rendered reference about 70 KB. */
const minScreenshotBytes = 20_000;

/** The URLs of a page's <script src> and <link href> tags, resolved against the page's address. */
function scriptAndLinkUrls(html: string, base: string): URL[] {
  return [...html.matchAll(/<(?:script|link)\b[^>]*>/gi)].flatMap(([tag]) =>
    [...tag.matchAll(/\s(?:src|href)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi)].map(([, a, b, c]) => new URL((a ?? b ?? c)!, base)),
  );
}
const loopbackHosts = new Set(['localhost', '127.0.0.1', '[::1]']);
/** Only data: URLs (no host at all) and loopback pass. */
const elsewhere = (urls: URL[]) => urls.filter((url) => url.protocol !== 'data:' && !loopbackHosts.has(url.hostname)).map(String);

function listen(server: Server, host: string): Promise<number> {
  return new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as { port: number }).port)));
}

describe('the API reference page (GET /docs) without internet', () => {
  let h: Harness;

  beforeAll(async () => {
    if (!chromium) throw new Error(`no Chromium found (tried ${chromiumCandidates.join(', ')}): apt-get install chromium`);
    h = await startHarness({ workerContexts: [] });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('the offline flags really cut the network: a script from another host does not run, one from loopback does', async () => {
    // This machine's own non-loopback address stands in for a CDN: reachable without the flags, internet or not.
    const external = Object.values(networkInterfaces())
      .flat()
      .find((address) => address && !address.internal && address.family === 'IPv4')?.address;
    const server = createServer((request, response) => {
      const script = { '/cdn.js': "window.cdn = 'ran';", '/local.js': "window.local = 'ran';" }[request.url ?? ''];
      if (script) return void response.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
      response.writeHead(200, { 'content-type': 'text/html' }).end(
        `<!doctype html><title>-</title>
        ${external ? `<script src="http://${external}:${port}/cdn.js"></script>` : ''}
        <script src="https://cdn.jsdelivr.net/npm/@scalar/api-reference"></script>
        <script src="/local.js"></script>
        <script>document.title = ['cdn', window.cdn, 'jsdelivr', typeof window.Scalar, 'local', window.local].join(' ')</script>`,
      );
    });
    const port = await listen(server, '0.0.0.0');
    try {
      const title = async (flags: string[]) => {
        const { stdout } = await runChromium(chromium!, [...flags, '--virtual-time-budget=5000', '--dump-dom', `http://127.0.0.1:${port}/`]);
        return /<title>([^<]*)<\/title>/.exec(stdout)?.[1];
      };
      expect(await title(offlineFlags())).toBe('cdn  jsdelivr undefined local ran');
      // Without the flags the stand-in CDN answers: the page above failed because of them.
      if (external) expect(await title([])).toMatch(/^cdn ran jsdelivr \w+ local ran$/);
    } finally {
      server.close();
      server.closeAllConnections();
      await once(server, 'close');
    }
  });

  it('the page, its script and its policy name no other host', async () => {
    const page = await fetch(`${h.apiUrl}/docs`);
    const html = await page.text();
    const urls = scriptAndLinkUrls(html, `${h.apiUrl}/docs`);
    expect(urls.map((url) => url.pathname)).toContain('/docs/scalar.js');
    expect(elsewhere(urls)).toEqual([]);
    // Every source the policy admits is this origin, an inline script by hash, inline styles or data: (icons).
    const policy = page.headers.get('content-security-policy') ?? '';
    const sources = policy.split(';').flatMap((directive) => directive.trim().split(/\s+/).slice(1));
    expect(sources.filter((source) => !/^('self'|'none'|'unsafe-inline'|'sha256-[A-Za-z0-9+/=]+'|data:)$/.test(source))).toEqual([]);
    expect(policy).toMatch(/(^|; )default-src 'none'(;|$)/);

    const script = await fetch(new URL(urls.find((url) => url.pathname === '/docs/scalar.js')!, h.apiUrl));
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(script.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(script.headers.get('x-content-type-options')).toBe('nosniff');
    expect((await script.text()).length).toBeGreaterThan(1_000_000);
  });

  it('renders the reference with the network cut, and the screenshot is kept as docs/api-reference.png', async () => {
    const document = (await h.request('GET', '/openapi.json')).body;
    const operations = Object.values(document.paths).flatMap((item: any) => Object.values(item)) as { summary: string; tags: string[] }[];
    const firstTag = operations[0]!.tags[0];

    const scratch = mkdtempSync(path.join(tmpdir(), 'api-reference-'));
    const shot = path.join(scratch, 'shot.png');
    try {
      const { stdout: html } = await runChromium(chromium!, [
        ...offlineFlags({ [shownAt]: new URL(h.apiUrl).host }),
        // Virtual time waits for the page's requests: the script, then the document it fetches.
        '--virtual-time-budget=20000',
        `--window-size=${viewport.width},${viewport.height}`,
        `--screenshot=${shot}`,
        '--dump-dom',
        `http://${shownAt}/docs`,
      ]);
      const dom = html.replace(/&(amp|lt|gt|quot|#39);/g, (_, name: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[name]!);

      // Only the script, having fetched /openapi.json, can have written these: the served page holds none of them.
      // Scalar opens the first tag, listing its operations by summary, and names every tag in the sidebar.
      const expected = [
        ...operations.filter((operation) => operation.tags.includes(firstTag!)).map((operation) => operation.summary),
        ...new Set(operations.flatMap((operation) => operation.tags)),
      ];
      expect(expected.filter((text) => !dom.includes(text)), 'missing from the rendered page').toEqual([]);
      expect(elsewhere(scriptAndLinkUrls(dom, `http://${shownAt}/docs`))).toEqual([]);

      const png = readFileSync(shot);
      expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      expect(png.subarray(12, 16).toString('latin1')).toBe('IHDR');
      expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([viewport.width, viewport.height]);
      expect(png.length).toBeGreaterThan(minScreenshotBytes);
      // Kept only once it shows the rendered reference: a failing run leaves the last good picture.
      copyFileSync(shot, screenshotPath);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
