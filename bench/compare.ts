// `npm run bench:compare -- <results.json> <results.json> ...`: the figures of several bench runs side by side (e.g.
// the dev server's and the cluster's), one row per case and figure, aTES and its baseline for each run.
import { readFileSync } from 'node:fs';
import { format, tableLines, type BenchReport } from './report.js';

const files = process.argv.slice(2);
if (files.length < 2) {
  console.error('usage: npm run bench:compare -- <results.json> <results.json> [...]   (files from bench/results/)');
  process.exit(2);
}
const reports = files.map((file) => JSON.parse(readFileSync(file, 'utf8')) as BenchReport);
const header = ['case', 'figure', ...reports.flatMap((report) => [`aTES, ${report.temporal}`, `baseline, ${report.temporal}`])];
const rows: string[][] = [];
const caseNames = [...new Set(reports.flatMap((report) => report.cases.map((c) => c.name)))];
for (const name of caseNames) {
  const figures = [...new Set(reports.flatMap((report) => report.cases.find((c) => c.name === name)?.figures.map((f) => `${f.figure} [${f.unit}]`) ?? []))];
  for (const [index, label] of figures.entries()) {
    const cells = reports.flatMap((report) => {
      const found = report.cases.find((c) => c.name === name)?.figures.find((f) => `${f.figure} [${f.unit}]` === label);
      return found ? [format(found.value), format(found.baseline)] : ['', ''];
    });
    rows.push([index === 0 ? name : '', label, ...cells]);
  }
}
console.log(reports.map((report, index) => `${index + 1}. ${files[index]}: Temporal ${report.temporal}, ${report.startedAt}${report.quick ? ' (--quick)' : ''}`).join('\n'));
console.log(['', ...tableLines(header, rows)].join('\n'));
