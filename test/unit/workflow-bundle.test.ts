// The workflow bundle the workers run (workflowsPath in workers/run.ts). Temporal's sandbox instantiates every
// module in it once per cached workflow, so what it holds is memory per cached issue: zod alone is ~640 KiB.
// zod is only for save-time validation (workflows/statechart/catalog-schemas.ts, via validate.ts, which the API
// calls); eslint.config.js forbids importing it from workflow code, and this checks the bundle itself.
import { readFileSync } from 'node:fs';
import { bundleWorkflowCode } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { workflowsPath } from '../../workers/run.js';

const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };

/** The modules webpack put in the bundle, by path (`./node_modules/zod/v4/core/errors.js`, `./workflows/issue.ts`). */
const modulesIn = (code: string) => [...code.matchAll(/^\/\*\*\*\/ "(\.\/[^"]+)"/gm)].map((match) => match[1] as string);
const packageOf = (module: string) => /^\.\/node_modules\/((?:@[\w.-]+\/)?[\w.-]+)\//.exec(module)?.[1];

describe('the workflow bundle', () => {
  let code = '';
  let modules: string[] = [];
  beforeAll(async () => {
    ({ code } = await bundleWorkflowCode({ workflowsPath, logger: silent }));
    modules = modulesIn(code);
  }, 30_000);

  it('holds no zod', () => {
    expect(modules).toContain('./workflows/statechart/machine.ts');
    expect(modules.filter((module) => packageOf(module) === 'zod')).toEqual([]);
    expect(code.includes('ZodError'), 'the bundle mentions ZodError').toBe(false);
  });

  it('holds none of the save-time validation (catalog-schemas.ts, validate.ts)', () => {
    expect(modules).toContain('./workflows/statechart/catalog.ts');
    expect(modules.filter((module) => /^\.\/workflows\/statechart\/(catalog-schemas|validate)\.ts$/.test(module))).toEqual([]);
  });

  it('of our own dependencies, holds only Temporal’s workflow side and xstate', () => {
    const { dependencies } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
    const ours = new Set(modules.map(packageOf).filter((name) => name !== undefined && Object.hasOwn(dependencies, name)));
    expect([...ours].sort()).toEqual(['@temporalio/common', '@temporalio/workflow', 'xstate']);
  });
});
