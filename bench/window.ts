/**
 * Figure 4: does each library keep the limit, and how much of the quota does it use? Every library
 * runs the same tasks (~2 ms each, concurrency 8); the tasks record their own start times, and the
 * figures come from those alone (bench/lib/windows.ts).
 */
import { OURS, WINDOW_KEEPERS, type Task } from './contenders.js';
import { heading, table, verdict, type Results } from './lib/report.js';
import { windowFigures, type Limit, type WindowFigures } from './lib/windows.js';

const TASK_MS = 2;
const CONCURRENCY = 8;
/** Runs of ours per case: the target must hold on every one, so the worst is shown. */
const OUR_RUNS = 3;

interface Case {
  name: string;
  limits: Limit[];
  tasks: number;
}

const SINGLE: Case = { name: 'single', limits: [{ limit: 20, windowMs: 100 }], tasks: 600 };
const MULTI: Case = {
  name: 'multi',
  limits: [
    { limit: 20, windowMs: 100 },
    { limit: 60, windowMs: 500 },
  ],
  tasks: 300,
};

const describe = (limits: readonly Limit[]) => limits.map(({ limit, windowMs }) => `${limit} per ${windowMs} ms`).join(' and ');

/** Start times of `tasks` tasks of ~TASK_MS each through one library; null when it can not express the limits. */
async function startsThrough(keeper: (typeof WINDOW_KEEPERS)[number], each: Case): Promise<number[] | null> {
  const made = keeper.create(each.limits, CONCURRENCY);
  if (made === null) return null;
  const starts: number[] = [];
  const task: Task = async () => {
    starts.push(performance.now());
    await new Promise((resolve) => setTimeout(resolve, TASK_MS));
  };
  await Promise.all(Array.from({ length: each.tasks }, () => made.gate(task)));
  await made.stop();
  return starts;
}

/** Ours first, then each peer; the worst of our runs (most over, then lowest utilisation) is the one shown. */
async function runCase(each: Case): Promise<Map<string, { figures: WindowFigures; starts: number[] } | null>> {
  const outcome = new Map<string, { figures: WindowFigures; starts: number[] } | null>();
  for (const keeper of WINDOW_KEEPERS) {
    const runs = keeper.name === OURS ? OUR_RUNS : 1;
    let worst: { figures: WindowFigures; starts: number[] } | null = null;
    for (let run = 0; run < runs; run++) {
      const starts = await startsThrough(keeper, each);
      if (starts === null) break;
      const figures = windowFigures(starts, {
        limits: each.limits,
        concurrency: keeper.capsConcurrency ? CONCURRENCY : Infinity,
        taskMs: TASK_MS,
      });
      if (
        worst === null ||
        figures.over > worst.figures.over ||
        (figures.over === worst.figures.over && figures.utilisation < worst.figures.utilisation)
      ) {
        worst = { figures, starts };
      }
    }
    outcome.set(keeper.name, worst);
  }
  return outcome;
}

/** Ours: pass/MISS against the target; a peer: what it did. */
function judge(name: string, { over, overBy1msOrMore, utilisation }: WindowFigures): string {
  const full = utilisation >= 0.99;
  if (name === OURS) return verdict(over === 0 && full);
  if (over === 0) return full ? 'keeps both' : 'under-uses';
  return overBy1msOrMore === 0 ? `over by < 1 ms${full ? '' : ', under-uses'}` : 'over the limit';
}

function print(each: Case, outcome: Map<string, { figures: WindowFigures } | null>): void {
  const rows = WINDOW_KEEPERS.map((keeper) => {
    const measured = outcome.get(keeper.name);
    if (measured === null || measured === undefined) return [keeper.name, keeper.how, 'can not express two windows', '', '', '', ''];
    const { most, over, overBy1msOrMore, utilisation } = measured.figures;
    return [keeper.name, keeper.how, most.join(' / '), over, overBy1msOrMore, utilisation.toFixed(3), judge(keeper.name, measured.figures)];
  });
  console.log(
    table(
      ['library', 'set up as', `most starts in any window (${describe(each.limits)})`, 'over', 'over by >= 1 ms', 'utilisation', 'verdict'],
      rows,
    ),
  );
}

/** Returns the single-window runs' start times by library, for the chart. */
export async function windowBench(results: Results): Promise<Map<string, number[]>> {
  heading(
    `Window keeping: ${describe(SINGLE.limits)}, ${SINGLE.tasks} tasks of ~${TASK_MS} ms, concurrency ${CONCURRENCY}`,
    'Target (ours): 0 over the limit and utilisation >= 0.99, on each of 3 runs (the worst is shown); one run per peer.',
    '"over": starts beyond the limit in the worst window; "over by >= 1 ms": the same in windows 1 ms shorter, forgiving',
    'what a clock read in whole milliseconds (Date.now(), which most peers use) can not see.',
    'Utilisation: the shortest first-to-last time the limits and the concurrency allow (8 tasks of 2 ms at once; no cap for',
    'p-throttle and limiter, which have none), over the time taken. Above 1 means a limit was broken.',
  );
  const single = await runCase(SINGLE);
  print(SINGLE, single);
  heading(
    `Two windows at once: ${describe(MULTI.limits)}, ${MULTI.tasks} tasks`,
    'Same target; "over" adds up the excess in both windows.',
  );
  const multi = await runCase(MULTI);
  print(MULTI, multi);
  const summary = (outcome: Map<string, { figures: WindowFigures } | null>) =>
    Object.fromEntries(
      [...outcome].map(([name, measured]) => [
        name,
        measured === null ? null : { ...measured.figures, verdict: judge(name, measured.figures) },
      ]),
    );
  results.record('window', {
    taskMs: TASK_MS,
    concurrency: CONCURRENCY,
    single: { limits: SINGLE.limits, tasks: SINGLE.tasks, figures: summary(single) },
    multi: { limits: MULTI.limits, tasks: MULTI.tasks, figures: summary(multi) },
  });
  return new Map([...single].flatMap(([name, measured]) => (measured === null ? [] : [[name, measured.starts] as [string, number[]]])));
}
