// A Node process running a script of a test's own (ES module source, run with tsx from the repository
// root, so it imports `./src/…`), for tests with several processes sharing one redis-server.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ScriptWorker<Report> {
  /** Resolves when the script printed `ready` (its first line). */
  readonly ready: Promise<void>;
  /** Tells the script to start: it waits for a line on its stdin. */
  go(): void;
  /** Resolves once what the script printed so far satisfies `test` (a line it prints when it got somewhere). */
  output(test: (stdout: string) => boolean): Promise<void>;
  /** The script's last line, parsed as JSON, once it exited with 0; rejects (with its stderr) otherwise. */
  readonly report: Promise<Report>;
  kill(): void;
}

/**
 * Runs `script` with its settings in `RLC_SETTINGS` (JSON). The protocol: the script prints `ready`,
 * waits for a line on stdin, runs, and prints its report (JSON) as its last line.
 */
export function spawnScriptWorker<Report>(script: string, settings: unknown): ScriptWorker<Report> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    env: { ...process.env, RLC_SETTINGS: JSON.stringify(settings) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const watchers = new Set<() => void>();
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.startsWith('ready\n')) markReady();
    for (const watch of watchers) watch();
  });
  const output = (test: (text: string) => boolean) =>
    new Promise<void>((resolve) => {
      const watch = () => {
        if (!test(stdout)) return;
        watchers.delete(watch);
        resolve();
      };
      watchers.add(watch);
      watch();
    });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const report = new Promise<Report>((resolve, reject) => {
    child.on('exit', (code) => {
      const last = stdout.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !last.startsWith('{')) reject(new Error(`worker exited with ${code}: ${stderr}`));
      else resolve(JSON.parse(last) as Report);
    });
  });
  return { ready, go: () => child.stdin.write('go\n'), output, report, kill: () => child.kill('SIGKILL') };
}
