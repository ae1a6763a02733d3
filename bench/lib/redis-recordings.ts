/**
 * The Redis section's figures kept in git, one file per design (`bench/results/redis-<label>.json`), so a
 * later run prints its figures beside each recorded design's: `RLC_BENCH_REDIS_RECORD=<label> npm run
 * bench -- redis` writes (or replaces) the file of `<label>`; every run reads all of them.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { machine, type Machine } from './report.js';

const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));
const PREFIX = 'redis-';

/** Each figure of one case over its runs: the median, and every run's value in run order. */
export type CaseFigures = Record<string, { median: number; runs: number[] }>;

export interface Recording {
  label: string;
  /** The commit the run was made at (with `+dirty` when the work tree had changes). */
  commit: string;
  machine: Machine;
  /** 1-minute load average before and after the run: the machine is shared. */
  load: { before: number; after: number };
  /** By case id. */
  cases: Record<string, CaseFigures>;
}

function commit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head}+dirty src` : head;
  } catch {
    return 'unknown';
  }
}

export function newRecording(label: string, loadBefore: number, cases: Record<string, CaseFigures>): Recording {
  return { label, commit: commit(), machine: machine(), load: { before: loadBefore, after: os.loadavg()[0] ?? 0 }, cases };
}

/** The label asked for by RLC_BENCH_REDIS_RECORD, checked (it names a file). */
export function labelToRecord(): string | undefined {
  const label = process.env.RLC_BENCH_REDIS_RECORD;
  if (label === undefined || label === '') return undefined;
  if (!/^[a-z0-9][a-z0-9-]*$/.test(label)) {
    throw new TypeError(`Expected RLC_BENCH_REDIS_RECORD to be lower-case letters, digits and dashes, got ${JSON.stringify(label)}`);
  }
  return label;
}

export function writeRecording(recording: Recording): string {
  const file = `${PREFIX}${recording.label}.json`;
  writeFileSync(`${RESULTS_DIR}${file}`, `${JSON.stringify(recording, null, 2)}\n`);
  return `bench/results/${file}`;
}

/** Every recorded design, oldest run first. */
export function readRecordings(): Recording[] {
  const files = readdirSync(RESULTS_DIR).filter((name) => name.startsWith(PREFIX) && name.endsWith('.json'));
  const recordings = files.map((name) => JSON.parse(readFileSync(`${RESULTS_DIR}${name}`, 'utf8')) as Recording);
  return recordings.sort((a, b) => a.machine.date.localeCompare(b.machine.date));
}
