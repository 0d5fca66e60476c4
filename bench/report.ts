// The bench's one table (stdout) and the same numbers as JSON under bench/results/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import path from 'node:path';
import type { CaseResult } from './measure.js';

export interface BenchReport {
  startedAt: string;
  quick: boolean;
  /** The Temporal server the run measured: `dev server`, `cluster` or `external (<address>)`. */
  temporal: string;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string };
  seconds: number;
  cases: CaseResult[];
}

export function machine(): BenchReport['machine'] {
  return { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
}

export const format = (value: number | undefined, unit = ''): string => {
  if (value === undefined) return '';
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return `${value.toFixed(digits)}${unit ? ` ${unit}` : ''}`;
};

const clip = (text: string, length: number) => (text.length > length ? `${text.slice(0, length - 1)}…` : text);

/** Rows padded into columns under a header: plain text that also reads as a Markdown table. */
export function tableLines(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, column) => Math.max(h.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

/** A plain-text table that also reads as Markdown; the column of second baselines only when a figure has one. */
export function renderTable(report: BenchReport): string {
  const withOther = report.cases.some((result) => result.figures.some((f) => f.otherBaseline !== undefined));
  const header = ['case', 'figure', 'aTES', 'baseline', 'ratio', 'difference', ...(withOther ? ['other baseline'] : [])];
  const rows: string[][] = [];
  for (const result of report.cases) {
    const sizes = Object.entries(result.sizes)
      .map(([key, value]) => `${key}=${typeof value === 'number' ? value.toLocaleString('en-US') : value}`)
      .join(', ');
    const name = `${result.name} (${sizes})`;
    for (const [index, f] of result.figures.entries()) {
      rows.push([
        index === 0 ? name : '',
        `${f.figure} [${f.unit}]`,
        format(f.value),
        `${format(f.baseline)} (${f.baselineLabel})`,
        `${format(f.ratio)}×`,
        f.difference === undefined ? '' : `${f.difference >= 0 ? '+' : ''}${format(f.difference)}`,
        ...(withOther ? [f.otherBaseline === undefined ? '' : `${format(f.otherBaseline)} (${f.otherBaselineLabel})`] : []),
      ]);
    }
    // The first line of the error, short: the whole of it is in the JSON and the log above.
    if (result.error) rows.push([result.figures.length ? '' : name, 'ERROR', clip(result.error.split('\n')[0]!, 90), ...header.slice(3).map(() => '')]);
  }
  const m = report.machine;
  return [
    `aTES bench ${report.quick ? '(--quick: small sizes) ' : ''}${report.startedAt}, Temporal ${report.temporal}, ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, Node ${m.node}, ${format(report.seconds)} s`,
    '',
    ...tableLines(header, rows),
    '',
    ...report.cases.flatMap((result) => result.notes.map((note) => `- ${result.name}: ${note}`)),
  ].join('\n');
}

export function writeReport(report: BenchReport, folder: string): string {
  mkdirSync(folder, { recursive: true });
  const file = path.join(folder, `bench-${report.startedAt.replace(/[:.]/g, '-')}${report.quick ? '-quick' : ''}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}
