/**
 * redis-server processes for tests and the benchmark: started on a free local port, nothing written to
 * disk, killed when this process exits. No vitest here, so the benchmark can use it too.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { freePort } from './free-port.js';

const READY_TIMEOUT_MS = 10_000;
const POLL_INTERVAL_MS = 20;
/** Output kept for error messages: the end of it, where redis-server says why it stopped. */
const OUTPUT_LIMIT = 8_192;

export type RedisAvailability = { ok: true } | { ok: false; reason: string };

let availability: RedisAvailability | undefined;

/** Whether `redis-server` can be run here (asked once per process). */
export function redisServerAvailable(): RedisAvailability {
  if (availability !== undefined) return availability;
  const result = spawnSync('redis-server', ['--version'], { encoding: 'utf8', timeout: 5_000 });
  if (result.error !== undefined) availability = { ok: false, reason: `redis-server not found (${result.error.message})` };
  else if (result.status !== 0) {
    availability = { ok: false, reason: `redis-server --version exited with ${result.status}: ${result.stderr.trim()}` };
  } else availability = { ok: true };
  return availability;
}

/** Every process started and not yet exited: killed when the test process exits, so none leaks. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

/** One PING over a fresh socket: true when the server answers PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class RedisServer {
  readonly port: number;
  #child: ChildProcess | undefined;
  /** The latest process's stdout and stderr, cut to its last OUTPUT_LIMIT characters. */
  #output = '';

  constructor(port: number) {
    this.port = port;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Spawns redis-server and resolves once it answers PING. */
  async start(): Promise<void> {
    if (this.#child !== undefined) throw new Error(`redis-server on port ${this.port} is already running`);
    installExitHook();
    this.#output = '';
    // No config file, no persistence: nothing is written to disk (cwd is the temp dir all the same).
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'],
      { cwd: tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.#child = child;
    running.add(child);
    const collect = (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    let exitedEarly = false;
    child.once('exit', () => {
      exitedEarly = true;
      running.delete(child);
      if (this.#child === child) this.#child = undefined;
    });
    // Spawning itself failed (no 'exit' follows).
    child.once('error', (error) => {
      exitedEarly = true;
      running.delete(child);
      if (this.#child === child) this.#child = undefined;
      this.#output += String(error);
    });

    // Readiness can only be observed by asking: a short poll, bounded by an overall deadline.
    const deadline = performance.now() + READY_TIMEOUT_MS;
    while (!exitedEarly) {
      if (await ping(this.port)) return;
      if (performance.now() > deadline) {
        child.kill('SIGKILL');
        await exited(child);
        throw new Error(`redis-server on port ${this.port} did not answer PING within ${READY_TIMEOUT_MS} ms:\n${this.#output}`);
      }
      await delay(POLL_INTERVAL_MS);
    }
    throw new Error(`redis-server on port ${this.port} exited before it was ready:\n${this.#output}`);
  }

  /** SIGTERM; resolves once the process has exited. */
  stop(): Promise<void> {
    return this.#signal('SIGTERM');
  }

  /** SIGKILL; resolves once the process has exited. */
  kill(): Promise<void> {
    return this.#signal('SIGKILL');
  }

  /** Stops the server and starts a new one on the same port: every key and loaded script is gone. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async #signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    const exit = exited(child);
    child.kill(signal);
    await exit;
  }
}

/** Starts a redis-server on a free port of 127.0.0.1 (or on `options.port`). */
export async function startRedis(options: { port?: number } = {}): Promise<RedisServer> {
  // A port found free may be taken before redis-server binds it: then try another.
  const attempts = options.port === undefined ? 3 : 1;
  for (let attempt = 1; ; attempt++) {
    const server = new RedisServer(options.port ?? (await freePort()));
    try {
      await server.start();
      return server;
    } catch (error) {
      if (attempt >= attempts) throw error;
    }
  }
}
