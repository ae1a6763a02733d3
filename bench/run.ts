/**
 * `npm run bench`: every figure the targets are checked against, ours beside the peers' (p-queue,
 * p-limit, p-throttle, Bottleneck, limiter), measured in one run on one machine. Prints one table per
 * figure with pass/MISS beside each target, and writes bench/results/latest.json and the window chart
 * bench/results/window-chart.svg.
 *
 * `npm run bench -- window http` runs only the sections named (overhead, scaling, memory, window, http,
 * latency, redis, context, tokens, servers, keys); the results file then holds only those.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { windowChart } from './chart.js';
import { OURS } from './contenders.js';
import { contextBench } from './context.js';
import { httpBench } from './http.js';
import { keysBench } from './keys.js';
import { latencyBench } from './latency.js';
import { Results } from './lib/report.js';
import { memoryBench } from './memory.js';
import { overheadBench } from './overhead.js';
import { redisBench } from './redis.js';
import { scalingBench } from './scaling.js';
import { serversBench } from './servers.js';
import { windowBench } from './window.js';
import { tokensBench } from './tokens.js';

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

/** The chart shows ours beside the two peers people most often reach for. */
const CHARTED = [OURS, 'p-queue', 'bottleneck reservoir'];

const SECTIONS: Record<string, (results: Results) => Promise<unknown>> = {
  overhead: overheadBench,
  scaling: scalingBench,
  memory: memoryBench,
  window: async (results) => {
    const starts = await windowBench(results);
    const svg = windowChart({
      title: 'Starts in any 100 ms window, limit 20 per 100 ms (600 tasks of ~2 ms, concurrency 8)',
      limit: 20,
      windowMs: 100,
      series: CHARTED.flatMap((name) => {
        const each = starts.get(name);
        return each === undefined ? [] : [{ label: name, starts: each }];
      }),
    });
    writeFileSync(`${RESULTS_DIR}window-chart.svg`, svg);
    console.log('\nchart: bench/results/window-chart.svg');
  },
  http: httpBench,
  latency: latencyBench,
  redis: redisBench,
  context: contextBench,
  tokens: tokensBench,
  servers: serversBench,
  keys: keysBench,
};

const asked = process.argv.slice(2);
const unknown = asked.filter((name) => !(name in SECTIONS));
if (unknown.length > 0) throw new Error(`Unknown section ${unknown.join(', ')}; expected any of ${Object.keys(SECTIONS).join(', ')}`);

const results = new Results();
const { machine } = results;
console.log(
  `# rate-limited-client benchmark: node ${machine.node}, ${machine.platform}, ${machine.cores} × ${machine.cpus}, ${machine.memoryGiB} GiB`,
);
const begin = performance.now();
for (const [name, section] of Object.entries(SECTIONS)) {
  if (asked.length === 0 || asked.includes(name)) await section(results);
}
const file = asked.length === 0 ? 'latest.json' : `partial-${asked.join('-')}.json`;
results.write(`${RESULTS_DIR}${file}`);
console.log(`\nresults: bench/results/${file} (${((performance.now() - begin) / 1000).toFixed(0)} s in all)`);
