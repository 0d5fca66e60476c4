// An effect added to the catalog without a runner must not compile: the step's effect table and the old path's
// runners are both total over the catalog's effect names. This compiles the real files with one effect added to
// the catalog in memory, and expects each table to be the error.
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const catalogPath = path.join(root, 'workflows/statechart/catalog.ts');
const tables = [path.join(root, 'activities/issue-step.ts'), path.join(root, 'workflows/issue.ts')];

function diagnosticsWithCatalog(edit: (source: string) => string): ts.Diagnostic[] {
  const configFile = ts.readConfigFile(path.join(root, 'tsconfig.json'), (file) => ts.sys.readFile(file));
  const { options } = ts.parseJsonConfigFileContent(configFile.config, ts.sys, root);
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  host.readFile = (file) => {
    const text = readFile(file);
    return text !== undefined && path.resolve(file) === catalogPath ? edit(text) : text;
  };
  const program = ts.createProgram(tables, options, host);
  return tables.flatMap((file) => ts.getPreEmitDiagnostics(program, program.getSourceFile(file)));
}

const addEffect = (source: string) => {
  const edited = source.replace('export const effects = {', "export const effects = {\n  refundClient: { context: 'billing', answers: [] },");
  if (edited === source) throw new Error('the catalog no longer declares `export const effects = {`');
  return edited;
};

describe('effect runners', () => {
  it('compile as they are', () => {
    expect(diagnosticsWithCatalog((source) => source).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))).toEqual([]);
  }, 60_000);

  it('fail to compile in both tables when a catalog effect has no runner', () => {
    const errors = diagnosticsWithCatalog(addEffect).map((d) => ({
      file: path.relative(root, d.file?.fileName ?? ''),
      message: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
    }));
    for (const file of ['activities/issue-step.ts', 'workflows/issue.ts']) {
      expect(errors.filter((e) => e.file === file && e.message.includes('refundClient')), file).not.toEqual([]);
    }
  }, 60_000);
});
