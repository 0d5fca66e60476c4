// The workflow bundle the workers run (bundleWorkflows in workers/run.ts). Temporal's sandbox instantiates every
// module it does not preload once per cached workflow, so what it holds can be memory per cached issue: zod alone
// is ~640 KiB, and must stay out even though the workflows are preloaded.
// zod is only for save-time validation (workflows/statechart/catalog-schemas.ts, via validate.ts, which the API
// calls); eslint.config.js forbids importing it from workflow code, and this checks the bundle itself.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleWorkflows, isTracedBundle } from '../../workers/run.js';

const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };

/** The modules webpack put in the bundle, by path (`./node_modules/zod/v4/core/errors.js`, `./workflows/issue.ts`). */
// A node_modules linked from elsewhere (a git worktree's) shows as `../main/node_modules/...`.
const modulesIn = (code: string) => [...code.matchAll(/^\/\*\*\*\/ "(\.\.?\/[^"]+)"/gm)].map((match) => match[1] as string);
const packageOf = (module: string) => /^(?:\.\.?\/)+(?:[\w.-]+\/)*?node_modules\/((?:@[\w.-]+\/)?[\w.-]+)\//.exec(module)?.[1];

describe('the workflow bundle', () => {
  let code = '';
  let modules: string[] = [];
  beforeAll(async () => {
    ({ code } = await bundleWorkflows(silent));
    modules = modulesIn(code);
  }, 30_000);

  it('loads the workflows once for every workflow of a worker (preloaded, so they are not instantiated per cached issue)', () => {
    const preload = /exports\.preloadModules = function preloadModules\(\) \{([^}]*)\}/.exec(code)?.[1] ?? '';
    expect(preload).toContain('"./workflows/index.ts"');
  });

  it('holds no zod', () => {
    expect(modules).toContain('./workflows/statechart/machine.ts');
    expect(modules.filter((module) => packageOf(module) === 'zod')).toEqual([]);
    expect(code.includes('ZodError'), 'the bundle mentions ZodError').toBe(false);
  });

  it('holds none of the save-time validation (catalog-schemas.ts, validate.ts)', () => {
    expect(modules).toContain('./workflows/statechart/catalog.ts');
    expect(modules.filter((module) => /^\.\/workflows\/statechart\/(catalog-schemas|validate)\.ts$/.test(module))).toEqual([]);
  });

  it('holds no tracing: OpenTelemetry is only in the traced bundle, for workers with tracing on', () => {
    expect(isTracedBundle({ code })).toBe(false);
    expect(modules.filter((module) => /@opentelemetry|interceptors-opentelemetry|tracing-interceptors/.test(module))).toEqual([]);
  });

  it('of lib/, holds only the deterministic modules eslint.config.js holds to the workflows’ rules', () => {
    expect(modules.filter((module) => module.startsWith('./lib/'))).toEqual(['./lib/billing/calendar.ts']);
  });

  it('of our own dependencies, holds only Temporal’s workflow side and xstate', () => {
    const { dependencies } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
    const ours = new Set(modules.map(packageOf).filter((name) => name !== undefined && Object.hasOwn(dependencies, name)));
    expect([...ours].sort()).toEqual(['@temporalio/common', '@temporalio/workflow', 'xstate']);
  });
});
