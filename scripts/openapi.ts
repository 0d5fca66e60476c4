// `npm run lint:openapi`: Redocly's `recommended` lint (with redocly.yaml) of the document the API serves; any
// error or warning fails it. `npm run generate:client`: regenerates test/support/api-schema.d.ts from it.
// `tsx scripts/openapi.ts document [file]`: writes the document (to stdout without a file), for other tools.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { clientTypesPath, describeProblems, generateClientTypes, lintDocument, servedDocument } from './openapi-document.js';

const [command, file] = process.argv.slice(2);
const document = await servedDocument();

if (command === 'lint') {
  const { totals, version, problems } = lintDocument(document);
  for (const line of describeProblems(problems)) console.log(line);
  console.log(`redocly ${version} lint of GET /openapi.json (recommended, redocly.yaml): ${totals.errors} errors, ${totals.warnings} warnings`);
  process.exitCode = totals.errors + totals.warnings + problems.length > 0 ? 1 : 0;
} else if (command === 'generate') {
  writeFileSync(clientTypesPath, await generateClientTypes(document));
  console.log(`wrote ${path.relative(process.cwd(), clientTypesPath)}`);
} else if (command === 'document') {
  const text = `${JSON.stringify(document, null, 2)}\n`;
  if (file) writeFileSync(file, text);
  else process.stdout.write(text);
} else {
  console.error('usage: tsx scripts/openapi.ts lint | generate | document [file]');
  process.exitCode = 2;
}
