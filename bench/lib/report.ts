/**
 * How the benchmark prints and keeps its figures: one markdown table per figure (so a run can be pasted
 * into the README as it is), and every section's numbers in `bench/results/latest.json`.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';

export type Verdict = 'pass' | 'MISS' | 'info' | 'skipped';

export const verdict = (ok: boolean): Verdict => (ok ? 'pass' : 'MISS');

/** `ours / theirs` as "2.31x"; "n/a" when either side is missing. */
export function ratio(ours: number | undefined, theirs: number | undefined): string {
  if (ours === undefined || theirs === undefined || theirs === 0 || !Number.isFinite(ours / theirs)) return 'n/a';
  return `${(ours / theirs).toFixed(2)}x`;
}

/** A whole number with thousands separators. */
export const count = (value: number): string => Math.round(value).toLocaleString('en-US');

/** A markdown table whose columns line up in a terminal too. Numbers are right-aligned. */
export function table(headers: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const cells = rows.map((row) => row.map((cell) => String(cell)));
  const widths = headers.map((header, column) => Math.max(header.length, ...cells.map((row) => (row[column] ?? '').length)));
  const numeric = headers.map((_, column) => rows.length > 0 && rows.every((row) => typeof row[column] === 'number'));
  const line = (row: readonly string[]) =>
    `| ${row.map((cell, column) => (numeric[column] ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0))).join(' | ')} |`;
  const rule = `|${widths.map((width, column) => (numeric[column] ? `${'-'.repeat(width + 1)}:` : '-'.repeat(width + 2))).join('|')}|`;
  return [line([...headers]), rule, ...cells.map(line)].join('\n');
}

/** Prints a section heading, with what it measures and its target. */
export function heading(title: string, ...notes: string[]): void {
  console.log(`\n## ${title}\n`);
  for (const note of notes) console.log(note);
  if (notes.length > 0) console.log('');
}

export interface Machine {
  node: string;
  platform: string;
  cpus: string;
  cores: number;
  memoryGiB: number;
  date: string;
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    node: process.version,
    platform: `${process.platform}/${process.arch}`,
    cpus: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    date: new Date().toISOString(),
  };
}

/** Every section's figures, by section name, written out at the end of a run. */
export class Results {
  readonly machine = machine();
  readonly sections: Record<string, unknown> = {};

  record(section: string, figures: unknown): void {
    this.sections[section] = figures;
  }

  write(path: string): void {
    writeFileSync(path, `${JSON.stringify({ machine: this.machine, sections: this.sections }, null, 2)}\n`);
  }
}

/** The median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** The q-quantile (0..1) of a non-empty list, nearest rank. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}
