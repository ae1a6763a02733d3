/**
 * `npm run examples`: runs every `examples/*.ts` (the demo has its own `npm run demo`; the msw example
 * is a test file, run by `npm test`), one after another, each in its own process as a user would run
 * it. Each example checks its own claim and exits non-zero when it does not hold; this fails if any
 * example fails or takes longer than TIMEOUT_MS. `npm run examples -- octokit openai` runs only those.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const TIMEOUT_MS = 60_000;
const dir = fileURLToPath(new URL('..', import.meta.url));
const wanted = process.argv.slice(2);
const examples = readdirSync(dir)
  .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts') && file !== 'demo.ts')
  .map((file) => file.slice(0, -'.ts'.length))
  .filter((name) => wanted.length === 0 || wanted.includes(name))
  .sort();
const unknown = wanted.filter((name) => !examples.includes(name));
if (unknown.length > 0) throw new Error(`No example named ${unknown.join(', ')} in ${dir}`);

function run(name: string): Promise<{ code: number | null; ms: number; timedOut: boolean }> {
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', `${name}.ts`], { cwd: dir, stdio: 'inherit' });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, TIMEOUT_MS);
  return new Promise((resolve) => {
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, ms: performance.now() - started, timedOut });
    });
  });
}

const summary: string[] = [];
let failed = 0;
for (const name of examples) {
  console.log(`\n=== examples/${name}.ts`);
  const { code, ms, timedOut } = await run(name);
  const ok = code === 0 && !timedOut;
  if (!ok) failed++;
  const why = timedOut ? `killed after ${TIMEOUT_MS / 1000} s` : `exit code ${code}`;
  summary.push(`${ok ? 'ok  ' : 'FAIL'}  ${name.padEnd(22)} ${(ms / 1000).toFixed(1).padStart(5)} s${ok ? '' : `  (${why})`}`);
}
console.log(
  `\n${summary.join('\n')}\n${failed === 0 ? `all ${examples.length} examples passed` : `${failed} of ${examples.length} examples failed`}`,
);
process.exitCode = failed === 0 ? 0 : 1;
