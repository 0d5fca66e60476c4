// The OpenAPI document as the app serves it, Redocly's lint of it and the client types openapi-typescript
// generates from it: what `npm run lint:openapi` and `npm run generate:client` (scripts/openapi.ts) do, and what
// test/unit/openapi.test.ts checks.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import openapiTS, { astToString, COMMENT_HEADER, type OpenAPI3 } from 'openapi-typescript';
import { createApp } from '../api/app.js';
import type { ApiDeps } from '../api/deps.js';
import { loadConfig } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';

const root = path.resolve(import.meta.dirname, '..');
/** The lint's configuration: Redocly's `recommended`, and each exception with its reason. */
export const redoclyConfig = path.join(root, 'redocly.yaml');
/** The generated client types, committed; test/unit/openapi.test.ts fails when they differ from a fresh generation. */
export const clientTypesPath = path.join(root, 'test', 'support', 'api-schema.d.ts');

/**
 * GET /openapi.json of an app with no database, Temporal or secret behind it, through the app's own route and
 * middleware: building the routes and the document touches none of them (only a request to another route would),
 * and nothing in the document depends on the configuration.
 */
export async function servedDocument(): Promise<OpenAPI3> {
  const deps: ApiDeps = {
    config: loadConfig({}),
    database: {} as ApiDeps['database'],
    temporal: {} as ApiDeps['temporal'],
    jwtSecret: 'unused: the document is public',
    log: createLogger('error', 'openapi'),
  };
  const response = await createApp(deps).request('/openapi.json');
  if (response.status !== 200) throw new Error(`GET /openapi.json answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as OpenAPI3;
}

export interface LintProblem {
  ruleId: string;
  severity: 'error' | 'warn';
  message: string;
  location: { pointer?: string }[];
}

export interface LintResult {
  totals: { errors: number; warnings: number; ignored: number };
  version: string;
  problems: LintProblem[];
}

/** `redocly lint --format=json` of the document with redocly.yaml; a configuration Redocly finds fault with is an error too. */
export function lintDocument(document: unknown): LintResult {
  const folder = mkdtempSync(path.join(tmpdir(), 'ates-openapi-'));
  try {
    const file = path.join(folder, 'openapi.json');
    writeFileSync(file, JSON.stringify(document, null, 2));
    const cli = createRequire(import.meta.url).resolve('@redocly/cli/bin/cli.js');
    const args = [cli, 'lint', file, `--config=${redoclyConfig}`, '--lint-config=error', '--format=json', '--max-problems=1000'];
    const run = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    // Its report is the JSON on stdout; notices (its Node.js deprecation banner) go to stderr.
    const start = run.stdout?.indexOf('{') ?? -1;
    if (run.error || start < 0) throw new Error(`redocly lint gave no report (exit ${run.status}): ${run.error ?? run.stderr}`);
    return JSON.parse(run.stdout.slice(start)) as LintResult;
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

/** One line per problem: severity, rule, where in the document, and what. */
export const describeProblems = (problems: LintProblem[]) =>
  problems.map((p) => `${p.severity.padEnd(5)} ${p.ruleId.padEnd(28)} ${p.location.map((l) => l.pointer ?? '').join(' ')}  ${p.message}`);

const banner = `${COMMENT_HEADER}// Generated from GET /openapi.json by \`npm run generate:client\` (openapi-typescript); use it with openapi-fetch.\n\n`;

/** What openapi-typescript generates from the document, with its usual header. */
export async function generateClientTypes(document: OpenAPI3): Promise<string> {
  return banner + astToString(await openapiTS(document, { defaultNonNullable: false, silent: true }));
}
