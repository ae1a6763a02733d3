import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { Redis } from 'ioredis';

/** The Redis an example runs against. */
export interface ExampleRedis {
  /** e.g. `redis://127.0.0.1:54321`. */
  url: string;
  /** How the example found it, for its banner: `(started by this example)` or `(REDIS_URL)`. */
  origin: string;
  /** Stops the redis-server this example started; nothing for a `REDIS_URL`. */
  stop(): Promise<void>;
}

/**
 * `REDIS_URL` when it is set (e.g. `redis://127.0.0.1:6379`); otherwise `redis-server` from PATH on a
 * free port of 127.0.0.1, with nothing written to disk, for the caller to stop at the end. Null, after
 * saying why on stderr, when neither answers a PING.
 */
export async function openExampleRedis(): Promise<ExampleRedis | null> {
  const fromEnv = process.env.REDIS_URL;
  const server = fromEnv === undefined ? await startRedisServer() : undefined;
  if (server === null) return null;
  const url = fromEnv ?? `redis://127.0.0.1:${server?.port}`;
  if (!(await redisAnswers(url))) {
    const hint = server ? '' : ' Start it, or unset REDIS_URL to let this example start redis-server.';
    console.error(`Redis at ${url} does not answer.${hint}`);
    await server?.stop();
    return null;
  }
  return {
    url,
    origin: server ? '(started by this example)' : '(REDIS_URL)',
    stop: async () => server?.stop(),
  };
}

/** PING through a fresh connection that gives up at once rather than retrying forever. */
async function redisAnswers(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2_000 });
  redis.on('error', () => {}); // the rejected connect() below says it
  try {
    await redis.connect();
    await redis.ping(); // answers PONG or rejects
    return true;
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

interface LocalRedis {
  port: number;
  stop(): Promise<void>;
}

/** Starts redis-server on a free port; null (after saying why) when it can not be started. */
async function startRedisServer(): Promise<LocalRedis | null> {
  const port = await freePort();
  // No config file and no persistence: nothing is written to disk (cwd is the temp dir all the same).
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    cwd: tmpdir(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  // redis-server says when it is ready, so there is nothing to poll for.
  const ready = new Promise<string | null>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) resolve(null);
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', (error: NodeJS.ErrnoException) =>
      resolve(error.code === 'ENOENT' ? 'redis-server was not found on PATH' : `redis-server could not be started: ${error.message}`),
    );
    child.once('exit', (code) => resolve(`redis-server exited with code ${code} before it was ready:\n${output.trim()}`));
  });
  const problem = await ready;
  if (problem !== null) {
    console.error(
      `${problem}.\nThis example needs Redis: install redis-server (e.g. apt-get install redis-server, brew install redis), or set REDIS_URL=redis://host:port to use a running one.`,
    );
    return null;
  }
  return {
    port,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A port the OS reports free right now (it could be taken before redis-server binds it: rare enough here). */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}
