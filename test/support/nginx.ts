/**
 * nginx as a rate limiter in front of nothing: `limit_req` before a fixed answer (`empty_gif`), on a free port
 * of 127.0.0.1, from a config written to a temp dir of its own (prefix, pid, logs, temp paths), so it
 * runs as root or not and touches nothing of the machine's nginx. Its access log is the server's own
 * record of what arrived and what it refused. No vitest here, so the benchmark can use it too.
 *
 * The limited location answers with `empty_gif`, not `return 200 "ok"`: `return` belongs to the
 * rewrite phase, which runs before `limit_req` (preaccess), so behind it nginx limits nothing (seen:
 * five requests 1 ms apart all answered 200 at rate=20r/s).
 *
 * How nginx counts (ngx_http_limit_req_module.c, 1.22): per key it keeps `excess` in thousandths of a
 * request and the time of the last accepted request, in whole ms of its cached clock (read once per
 * event-loop turn). A request at `ms` after the last accepted one computes
 * `excess = max(0, excess - rate * ms / 1000 + 1000)` and is refused when `excess > burst * 1000`;
 * a refused request changes nothing. So `rate=20r/s` with no burst refuses any request that arrives
 * less than 50 whole ms after the last one accepted, and `burst=10 nodelay` admits 11 at once.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const POLL_INTERVAL_MS = 20;
/** Where Debian's package puts it; `.ci/run` installs it. PATH is tried when it is not there. */
const NGINX_PATHS = ['/usr/sbin/nginx', 'nginx'];

export type NginxAvailability = { ok: true; binary: string; version: string } | { ok: false; reason: string };

let availability: NginxAvailability | undefined;

/** Whether nginx can be run here (asked once per process). */
export function nginxAvailable(): NginxAvailability {
  if (availability !== undefined) return availability;
  const reasons: string[] = [];
  for (const binary of NGINX_PATHS) {
    if (binary.startsWith('/') && !existsSync(binary)) {
      reasons.push(`${binary} does not exist`);
      continue;
    }
    const result = spawnSync(binary, ['-v'], { encoding: 'utf8', timeout: 5_000 });
    if (result.error !== undefined) reasons.push(`${binary}: ${result.error.message}`);
    else if (result.status !== 0) reasons.push(`${binary} -v exited with ${result.status}: ${result.stderr.trim()}`);
    else {
      availability = { ok: true, binary, version: result.stderr.trim() };
      return availability;
    }
  }
  availability = { ok: false, reason: `nginx not found (${reasons.join('; ')})` };
  return availability;
}

/** `limit_req_zone ... rate=<rate>r/s` and `limit_req ... [burst=<burst> nodelay]`. */
export interface NginxLimit {
  /** Requests a second. */
  readonly rate: number;
  /** nginx's `burst`: requests beyond the rate it admits; 0 (the default) writes none. */
  readonly burst?: number;
  /** `nodelay`: the burst is answered at once instead of queued (nginx's default delays them). */
  readonly nodelay?: boolean;
}

/** One line of the access log. */
export interface NginxArrival {
  /** When nginx read the request: `$msec - $request_time`, wall-clock ms since the epoch, to the ms. */
  readonly atMs: number;
  readonly status: number;
  /** `$request`: the request line, `GET /?i=3 HTTP/1.1`. */
  readonly request: string;
}

/** What nginx's processes were started with, and where its files are. */
export interface NginxFiles {
  readonly dir: string;
  readonly config: string;
  readonly accessLog: string;
  readonly errorLog: string;
}

/** Started and not yet exited: stopped when the test process exits, so no nginx outlives it. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    // SIGTERM, not SIGKILL: the master then stops its worker; a killed master would orphan it.
    for (const child of running) child.kill('SIGTERM');
  });
}

/** One GET of `/ready` (not limited, not logged) on a fresh socket: true on a 204. */
function ready(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const request = get({ host: '127.0.0.1', port, path: '/ready', agent: false, timeout: 1_000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 204);
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(false));
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The worker's user when the master runs as root: nginx refuses to serve as root only by default, and
 * its default group has the user's name, which Debian's `nobody` lacks (its group is `nogroup`).
 */
function unprivilegedUser(): string {
  const group = spawnSync('id', ['-gn', 'nobody'], { encoding: 'utf8' });
  return group.status === 0 ? `nobody ${group.stdout.trim()}` : 'nobody nogroup';
}

/** The whole config: one server, `/` limited and logged (a 43-byte GIF), `/ready` neither. */
export function nginxConfig(files: NginxFiles, port: number, limit: NginxLimit): string {
  const isRoot = process.getuid?.() === 0;
  const burst = limit.burst ?? 0;
  const limitReq = ['limit_req zone=z', burst > 0 ? `burst=${burst}` : '', limit.nodelay === true ? 'nodelay' : '']
    .filter(Boolean)
    .join(' ');
  const path = (name: string) => join(files.dir, name);
  return `# Written by test/support/nginx.ts: a rate limiter on 127.0.0.1:${port}.
${isRoot ? `user ${unprivilegedUser()};` : '# not root: no user directive (nginx would only warn)'}
daemon off;
master_process on;
worker_processes 1;
pid ${path('nginx.pid')};
lock_file ${path('nginx.lock')};
error_log ${files.errorLog} info;

events {
  worker_connections 256;
}

http {
  client_body_temp_path ${path('client_body_temp')};
  proxy_temp_path ${path('proxy_temp')};
  fastcgi_temp_path ${path('fastcgi_temp')};
  uwsgi_temp_path ${path('uwsgi_temp')};
  scgi_temp_path ${path('scgi_temp')};

  # $msec is when the line is written (the response's end); $request_time is since the request's
  # first byte was read, so their difference is the arrival.
  log_format arrivals '$msec $request_time $status "$request"';
  access_log ${files.accessLog} arrivals;

  keepalive_requests 10000;
  limit_req_zone $binary_remote_addr zone=z:1m rate=${limit.rate}r/s;
  limit_req_status 429;

  server {
    listen 127.0.0.1:${port};

    location = /ready {
      access_log off;
      return 204;
    }

    # Not \`return 200\`: return runs in the rewrite phase, before limit_req's (preaccess), so nginx
    # would answer every request and limit none. empty_gif answers in the content phase, after it.
    location / {
      ${limitReq};
      empty_gif;
    }
  }
}
`;
}

export class Nginx {
  readonly port: number;
  readonly files: NginxFiles;
  readonly #child: ChildProcess;
  #stopped: Promise<void> | undefined;

  constructor(port: number, files: NginxFiles, child: ChildProcess) {
    this.port = port;
    this.files = files;
    this.#child = child;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Every request the access log holds so far, in the order nginx wrote them. */
  async arrivals(): Promise<NginxArrival[]> {
    const text = await readFile(this.files.accessLog, 'utf8');
    return text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => {
        const match = /^(\d+\.\d+) (\d+\.\d+) (\d{3}) "(.*)"$/.exec(line);
        if (match === null) throw new Error(`nginx access log: unexpected line ${JSON.stringify(line)}`);
        const [, msec, requestTime, status, request] = match as unknown as [string, string, string, string, string];
        return { atMs: Math.round(Number(msec) * 1000 - Number(requestTime) * 1000), status: Number(status), request };
      });
  }

  /** The error log: `limiting requests, excess: 0.020 by zone "z"` for each refusal, and why nginx stopped. */
  errorLog(): Promise<string> {
    return readFile(this.files.errorLog, 'utf8').catch(() => '');
  }

  /** SIGTERM (SIGKILL after STOP_TIMEOUT_MS), then the temp dir is removed. Safe to call twice. */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    const exit = exited(this.#child);
    this.#child.kill('SIGTERM');
    const outcome = await Promise.race([exit.then(() => 'exited' as const), delay(STOP_TIMEOUT_MS).then(() => 'late' as const)]);
    if (outcome === 'late') {
      this.#child.kill('SIGKILL');
      await exit;
    }
    await rm(this.files.dir, { recursive: true, force: true });
  }
}

/** Starts nginx limiting at `limit` on a free port of 127.0.0.1; resolves once its worker answers. */
export async function startNginx(limit: NginxLimit): Promise<Nginx> {
  const found = nginxAvailable();
  if (!found.ok) throw new Error(found.reason);
  // A port found free may be taken before nginx binds it: then try another.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(found.binary, await freePort(), limit);
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}

async function startOnce(binary: string, port: number, limit: NginxLimit): Promise<Nginx> {
  installExitHook();
  const dir = await mkdtemp(join(tmpdir(), 'rlc-nginx-'));
  // The master (root) creates the temp paths for the worker's user; it needs to reach them.
  if (process.getuid?.() === 0) await chmod(dir, 0o755);
  const files: NginxFiles = {
    dir,
    config: join(dir, 'nginx.conf'),
    accessLog: join(dir, 'access.log'),
    errorLog: join(dir, 'error.log'),
  };
  await writeFile(files.config, nginxConfig(files, port, limit));
  // -e: the log nginx writes before it has read the config (Debian's default is stderr; be sure).
  const child = spawn(binary, ['-p', dir, '-c', files.config, '-e', files.errorLog], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  const collect = (chunk: Buffer) => (output = (output + chunk.toString('utf8')).slice(-8_192));
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let gone = false;
  child.once('exit', () => {
    gone = true;
    running.delete(child);
  });
  child.once('error', (error) => {
    gone = true;
    running.delete(child);
    output += String(error);
  });
  const nginx = new Nginx(port, files, child);
  const why = async () => `${output}${await nginx.errorLog()}\nconfig ${files.config}:\n${await readFile(files.config, 'utf8')}`;

  // Readiness can only be observed by asking: a short poll, bounded by an overall deadline.
  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (!gone) {
    if (await ready(port)) return nginx;
    if (performance.now() > deadline) {
      const message = `nginx on port ${port} did not answer within ${READY_TIMEOUT_MS} ms:\n${await why()}`;
      await nginx.stop();
      throw new Error(message);
    }
    await delay(POLL_INTERVAL_MS);
  }
  const message = `nginx on port ${port} exited before it was ready:\n${await why()}`;
  await rm(dir, { recursive: true, force: true });
  throw new Error(message);
}
