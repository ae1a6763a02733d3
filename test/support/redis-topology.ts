/**
 * Real Redis topologies for tests, started from Debian's packages on free loopback ports: a Cluster of
 * masters (`redis-server --cluster-enabled yes`, joined by `redis-cli --cluster create`), and a primary
 * with a replica watched by sentinels (`redis-server --sentinel`, so Debian's `redis-sentinel`
 * package, which only adds a service and a symlink, is not needed).
 *
 * No persistence (`--save ''`, no AOF). A cluster node must keep its `nodes.conf`, and a sentinel
 * rewrites its own config file, so each topology has a temp dir of its own, removed when it stops or
 * when this process exits; every server is killed then too, even when a test fails. No vitest here, so
 * the benchmark and the examples can use it too (`describeWithTopology` is in describe-with-topology.ts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';

const READY_TIMEOUT_MS = 10_000;
/** How long a topology may take to agree on itself (cluster_state:ok, sentinels knowing each other). */
const SETTLE_TIMEOUT_MS = 15_000;
const POLL_INTERVAL_MS = 50;
/** Output kept for error messages: the end of it, where redis-server says why it stopped. */
const OUTPUT_LIMIT = 8_192;
const HOST = '127.0.0.1';

export interface HostPort {
  host: string;
  port: number;
}

export type ToolsAvailability = { ok: true } | { ok: false; reason: string };

let availability: ToolsAvailability | undefined;

/** Whether `redis-server` (which also runs sentinels) and `redis-cli` can be run here (asked once per process). */
export function topologyToolsAvailable(): ToolsAvailability {
  if (availability !== undefined) return availability;
  const missing: string[] = [];
  for (const binary of ['redis-server', 'redis-cli']) {
    const result = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 5_000 });
    if (result.error !== undefined) missing.push(`${binary} not found (${result.error.message})`);
    else if (result.status !== 0) missing.push(`${binary} --version exited with ${result.status}: ${result.stderr.trim()}`);
  }
  availability = missing.length === 0 ? { ok: true } : { ok: false, reason: missing.join('; ') };
  return availability;
}

/** Every server started and not yet exited, and every temp dir: killed and removed when this process exits. */
const running = new Set<ChildProcess>();
const dirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
}

function tempDir(prefix: string): string {
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One command on a fresh connection (no retries, no offline queue); rejects when nothing answers. */
export async function command(port: number, ...args: Array<string | number>): Promise<unknown> {
  const redis = new Redis({
    host: HOST,
    port,
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: 1_000,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return await redis.call(String(args[0]), ...args.slice(1));
  } finally {
    redis.disconnect();
  }
}

/** `command`, or undefined when it fails: for polling a server that may not be up yet. */
async function tryCommand(port: number, ...args: Array<string | number>): Promise<unknown> {
  try {
    return await command(port, ...args);
  } catch {
    return undefined;
  }
}

/** A flat RESP map (`[k1, v1, k2, v2, …]`, as SENTINEL answers) as an object. */
function fields(reply: unknown): Record<string, string> {
  const flat = Array.isArray(reply) ? (reply as unknown[]) : [];
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = String(flat[i + 1]);
  return out;
}

/** `INFO`'s `name:value` lines as an object. */
function infoFields(reply: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of String(reply).split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) out[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return out;
}

/** Polls `check` until it is true; throws `what` (with `detail()`) after `timeoutMs`. */
async function until(what: string, check: () => Promise<boolean>, detail: () => string, timeoutMs = SETTLE_TIMEOUT_MS): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  // Readiness of a topology can only be observed by asking: a short poll, bounded by a deadline.
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms\n${detail()}`);
    await delay(POLL_INTERVAL_MS);
  }
}

/** One redis-server process (a data node or a sentinel) on a loopback port. */
export class RedisNode {
  readonly port: number;
  readonly #args: readonly string[];
  readonly #cwd: string;
  #child: ChildProcess | undefined;
  #output = '';

  constructor(port: number, args: readonly string[], cwd: string) {
    this.port = port;
    this.#args = args;
    this.#cwd = cwd;
  }

  get address(): HostPort {
    return { host: HOST, port: this.port };
  }

  /** The end of its stdout and stderr: for error messages. */
  get output(): string {
    return this.#output;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Spawns it and resolves once it answers PING. */
  async start(): Promise<void> {
    installExitHook();
    const child = spawn('redis-server', this.#args, { cwd: this.#cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    running.add(child);
    const collect = (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    let gone = false;
    const forget = () => {
      gone = true;
      running.delete(child);
      if (this.#child === child) this.#child = undefined;
    };
    child.once('exit', forget);
    child.once('error', (error) => {
      this.#output += String(error);
      forget();
    });
    const deadline = performance.now() + READY_TIMEOUT_MS;
    while (!gone) {
      if ((await tryCommand(this.port, 'PING')) === 'PONG') return;
      if (performance.now() > deadline) {
        await this.kill();
        throw new Error(`redis-server ${this.#args.join(' ')} did not answer PING within ${READY_TIMEOUT_MS} ms:\n${this.#output}`);
      }
      await delay(POLL_INTERVAL_MS);
    }
    throw new Error(`redis-server ${this.#args.join(' ')} exited before it was ready:\n${this.#output}`);
  }

  /** SIGKILL (nothing is persisted, so nothing is lost by not asking nicely); resolves once it has exited. */
  kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return Promise.resolve();
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    return exited;
  }
}

/** Free loopback ports, `count` of them, all different (the OS may hand the same one out twice in a row). */
async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/** Starts a node on free ports (`args(port, extraPort)` builds its arguments), retrying when a port was taken meanwhile. */
async function startNode(cwd: string, args: (port: number, extraPort: number) => string[]): Promise<RedisNode> {
  for (let attempt = 1; ; attempt++) {
    const [port, extraPort] = (await freePorts(2)) as [number, number];
    const node = new RedisNode(port, args(port, extraPort), cwd);
    try {
      await node.start();
      return node;
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}

/** The arguments every data node gets: loopback only, nothing persisted. */
const dataArgs = (port: number): string[] => [
  '--port',
  String(port),
  '--bind',
  HOST,
  '--save',
  '',
  '--appendonly',
  'no',
  '--protected-mode',
  'no',
];

export interface RedisClusterTopology {
  readonly nodes: readonly RedisNode[];
  /** Each master's address: the seeds for ioredis `Cluster` and node-redis `createCluster`. */
  readonly addresses: HostPort[];
  /** The node that serves `key`'s hash slot (`CLUSTER KEYSLOT`, then `CLUSTER SLOTS`). */
  nodeOf(key: string): Promise<RedisNode>;
  /** Kills every node and removes the temp dir. */
  stop(): Promise<void>;
}

/**
 * A Redis Cluster of `masters` masters (no replicas) on loopback ports, joined by `redis-cli --cluster
 * create`; resolves once every node says `cluster_state:ok`. The cluster bus gets a free port of its own
 * (`--cluster-port`, Redis 7): the default, port + 10 000, may be taken or beyond 65 535.
 */
export async function startCluster(masters = 3): Promise<RedisClusterTopology> {
  const dir = tempDir('rlc-cluster-');
  const nodes: RedisNode[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.kill()));
    removeDir(dir);
  };
  try {
    for (let i = 0; i < masters; i++) {
      nodes.push(
        await startNode(dir, (port, busPort) => [
          ...dataArgs(port),
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--cluster-port',
          String(busPort),
          '--cluster-node-timeout',
          '2000',
        ]),
      );
    }
    const create = await run('redis-cli', ['--cluster', 'create', ...nodes.map((node) => `${HOST}:${node.port}`), '--cluster-yes']);
    if (create.code !== 0) throw new Error(`redis-cli --cluster create exited with ${create.code}:\n${create.output}`);
    const states = new Map<number, string>();
    await until(
      'the cluster did not reach cluster_state:ok',
      async () => {
        const infos = await Promise.all(nodes.map((node) => tryCommand(node.port, 'CLUSTER', 'INFO')));
        infos.forEach((info, i) => states.set(nodes[i]?.port ?? 0, infoFields(info).cluster_state ?? 'no answer'));
        return [...states.values()].every((state) => state === 'ok');
      },
      () => [...states].map(([port, state]) => `${port}: ${state}`).join('\n'),
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    nodes,
    addresses: nodes.map((node) => node.address),
    async nodeOf(key) {
      const first = nodes[0] as RedisNode;
      const slot = Number(await command(first.port, 'CLUSTER', 'KEYSLOT', key));
      const ranges = (await command(first.port, 'CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, ...unknown[]]]>;
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      const owner = nodes.find((node) => node.port === Number(range?.[2][1]));
      if (owner === undefined) throw new Error(`no node serves slot ${slot} of ${key}: ${JSON.stringify(ranges)}`);
      return owner;
    },
    stop,
  };
}

/** Runs a command to its end, its stdout and stderr together. */
function run(file: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', (error) => resolve({ code: null, output: output + String(error) }));
    child.once('exit', (code) => resolve({ code, output }));
  });
}

export interface SentinelOptions {
  /** The name sentinels know the primary by. @default 'mymaster' */
  name?: string;
  /** `sentinel down-after-milliseconds`: how long the primary may not answer before a sentinel calls it down. @default 400 */
  downAfterMs?: number;
  /** `sentinel failover-timeout`. @default 1_000 */
  failoverTimeoutMs?: number;
}

export interface SentinelTopology {
  readonly name: string;
  readonly primary: RedisNode;
  readonly replica: RedisNode;
  readonly sentinels: readonly RedisNode[];
  /** The sentinels' addresses, for ioredis's `sentinels` option. */
  readonly sentinelAddresses: HostPort[];
  /** The port the sentinels name as the primary's now (`SENTINEL GET-MASTER-ADDR-BY-NAME`, asked of each until one answers). */
  masterPort(): Promise<number | undefined>;
  /** Resolves once every sentinel names `port` as the primary, with the time that took. */
  waitForMaster(port: number, timeoutMs?: number): Promise<number>;
  /** Kills every server and removes the temp dir. */
  stop(): Promise<void>;
}

/**
 * A primary, one replica of it, and 3 sentinels (quorum 2) watching it, on loopback ports; resolves
 * once the replica is in sync and every sentinel knows the replica and the two other sentinels, so a
 * failover can start as soon as the primary dies.
 *
 * The sentinels are told of each other and of the replica in their config (`sentinel myid`,
 * `known-sentinel`, `known-replica`): left to find each other, they take about 2 s (a hello on the
 * primary's channel every 2 s). Measured here with the defaults (400 ms down-after, 1 s failover
 * timeout): a SIGKILLed primary is replaced in about 1.2-1.5 s.
 */
export async function startSentinels(options: SentinelOptions = {}): Promise<SentinelTopology> {
  const name = options.name ?? 'mymaster';
  const downAfterMs = options.downAfterMs ?? 400;
  const failoverTimeoutMs = options.failoverTimeoutMs ?? 1_000;
  const dir = tempDir('rlc-sentinel-');
  const all: RedisNode[] = [];
  const stop = async () => {
    await Promise.all(all.map((node) => node.kill()));
    removeDir(dir);
  };
  try {
    // A replica's first sync is diskless and waits 5 s by default for more replicas to share it: not here.
    const primary = await startNode(dir, (port) => [...dataArgs(port), '--repl-diskless-sync-delay', '0']);
    all.push(primary);
    const replica = await startNode(dir, (port) => [...dataArgs(port), '--replicaof', HOST, String(primary.port)]);
    all.push(replica);
    let replication: Record<string, string> = {};
    await until(
      'the replica did not sync with the primary',
      async () => {
        replication = infoFields(await tryCommand(replica.port, 'INFO', 'replication'));
        return replication.master_link_status === 'up';
      },
      () => JSON.stringify(replication),
    );

    const ports = await freePorts(3);
    const ids = ports.map(() => randomBytes(20).toString('hex'));
    const sentinels = ports.map((port, i) => {
      const config = join(dir, `sentinel-${port}.conf`);
      const lines = [
        `port ${port}`,
        `bind ${HOST}`,
        'protected-mode no',
        `sentinel myid ${ids[i] as string}`,
        `sentinel monitor ${name} ${HOST} ${primary.port} 2`,
        `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
        `sentinel failover-timeout ${name} ${failoverTimeoutMs}`,
        `sentinel parallel-syncs ${name} 1`,
        `sentinel known-replica ${name} ${HOST} ${replica.port}`,
        ...ports.flatMap((other, j) => (j === i ? [] : [`sentinel known-sentinel ${name} ${HOST} ${other} ${ids[j] as string}`])),
      ];
      writeFileSync(config, `${lines.join('\n')}\n`);
      return new RedisNode(port, [config, '--sentinel'], dir);
    });
    all.push(...sentinels);
    await Promise.all(sentinels.map((sentinel) => sentinel.start()));

    // Ready when each sentinel sees the replica in sync and both other sentinels up (no s_down flag):
    // those are the votes and the candidate a failover needs.
    const seen = new Map<number, string>();
    await until(
      'the sentinels did not come to know each other and the replica',
      async () => {
        const views = await Promise.all(
          sentinels.map(async (sentinel) => {
            const others = ((await tryCommand(sentinel.port, 'SENTINEL', 'SENTINELS', name)) ?? []) as unknown[];
            const replicas = ((await tryCommand(sentinel.port, 'SENTINEL', 'REPLICAS', name)) ?? []) as unknown[];
            const up = others.map(fields).filter((each) => each.flags === 'sentinel').length;
            const synced = replicas.map(fields).filter((each) => each.flags === 'slave' && each['master-link-status'] === 'ok').length;
            seen.set(sentinel.port, `${up} sentinels up, ${synced} replicas in sync`);
            return up === 2 && synced === 1;
          }),
        );
        return views.every(Boolean);
      },
      () => [...seen].map(([port, view]) => `sentinel ${port}: ${view}`).join('\n') + `\n${sentinels[0]?.output ?? ''}`,
    );

    const masterPort = async (): Promise<number | undefined> => {
      for (const sentinel of sentinels) {
        const reply = await tryCommand(sentinel.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name);
        if (Array.isArray(reply)) return Number(reply[1]);
      }
      return undefined;
    };
    return {
      name,
      primary,
      replica,
      sentinels,
      sentinelAddresses: sentinels.map((sentinel) => sentinel.address),
      masterPort,
      async waitForMaster(port, timeoutMs = SETTLE_TIMEOUT_MS) {
        const began = performance.now();
        const named = new Map<number, string>();
        await until(
          `the sentinels did not all name ${port} as the primary`,
          async () => {
            const replies = await Promise.all(
              sentinels.map((sentinel) => tryCommand(sentinel.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)),
            );
            replies.forEach((reply, i) => named.set(sentinels[i]?.port ?? 0, JSON.stringify(reply)));
            return replies.every((reply) => Array.isArray(reply) && Number(reply[1]) === port);
          },
          () => [...named].map(([at, reply]) => `sentinel ${at}: ${reply}`).join('\n') + `\n${sentinels[0]?.output ?? ''}`,
          timeoutMs,
        );
        return performance.now() - began;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
