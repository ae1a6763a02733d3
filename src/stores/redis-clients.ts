// Which Redis clients a RedisStore accepts: each told apart by its own members (no option says which),
// checked, and seen as the one shape the store speaks (RedisLike).
import { describe } from '../core/validate.js';
import { KeyLayout } from './redis-key-layout.js';
import type { NodeRedisLike, RedisLike } from './redis-like.js';
import { isNodeRedisCluster, NodeRedisAdapter } from './redis-node-adapter.js';

/** What an ioredis (or iovalkey) client must have: what the store calls and cannot do without. */
const IOREDIS_METHODS = ['evalsha', 'eval', 'duplicate', 'on', 'off'] as const;
/** What a node-redis client must have; `isOpen` (a boolean) besides. */
const NODE_REDIS_METHODS = ['evalSha', 'eval', 'duplicate', 'connect', 'subscribe', 'unsubscribe', 'destroy', 'on', 'off'] as const;

const SUPPORTED =
  'a Redis client: ioredis 5 or 6 or iovalkey (`new Redis()` or `new Cluster()`), or node-redis 5 or newer (`createClient()` or `createCluster()`)';

type Family = 'ioredis' | 'node-redis';

const code = (name: string) => `\`${name}\``;

function missing(value: Record<string, unknown>, family: Family): string[] {
  if (family === 'ioredis') return IOREDIS_METHODS.filter((name) => typeof value[name] !== 'function');
  const methods: string[] = NODE_REDIS_METHODS.filter((name) => typeof value[name] !== 'function');
  return typeof value.isOpen === 'boolean' ? methods : [...methods, 'isOpen'];
}

/** What was given instead of a client, and what it lacks, for the TypeError. */
function given(value: unknown): string {
  if (typeof value === 'string')
    return `${describe(value)}: a client is needed, not a URL (\`new Redis(url)\` or \`createClient({ url })\`)`;
  if (typeof value === 'function') return `${describe(value)}: a client is needed, not its class or factory`;
  if (typeof value !== 'object' || value === null) return describe(value);
  const object = value as Record<string, unknown>;
  if (typeof object.then === 'function') return 'a Promise: pass the client itself (`await client.connect()` first, then `client`)';
  if (typeof object.createClient === 'function') return 'the node-redis module: pass a client (`createClient()`)';
  const name = (object.constructor as { name?: unknown } | undefined)?.name;
  const what = typeof name === 'string' && name !== '' && name !== 'Object' ? `an instance of ${code(name)}` : 'an object';
  const lacks = { ioredis: missing(object, 'ioredis'), 'node-redis': missing(object, 'node-redis') };
  const found = {
    ioredis: IOREDIS_METHODS.length - lacks.ioredis.length,
    'node-redis': NODE_REDIS_METHODS.length + 1 - lacks['node-redis'].length,
  };
  if (found.ioredis === 0 && found['node-redis'] === 0) {
    return `${what} with neither ioredis's ${code('evalsha')} nor node-redis's ${code('evalSha')}`;
  }
  // The family it belongs to: by its script method (`evalSha` is node-redis's spelling), else by what it lacks fewer of.
  let family: Family = found.ioredis > 0 && lacks.ioredis.length <= lacks['node-redis'].length ? 'ioredis' : 'node-redis';
  if (typeof object.evalSha === 'function') family = 'node-redis';
  else if (typeof object.evalsha === 'function') family = 'ioredis';
  return `${what} with some of ${family === 'ioredis' ? 'an ioredis' : 'a node-redis'} client's members but not ${lacks[family].map(code).join(', ')}`;
}

/**
 * The hash tag Redis Cluster hashes `key` by: the text between its first `{` and the first `}` after
 * it, if there is any; `undefined` when the whole key is hashed.
 */
export function hashTag(key: string): string | undefined {
  const open = key.indexOf('{');
  if (open === -1) return undefined;
  const close = key.indexOf('}', open + 1);
  return close === -1 || close === open + 1 ? undefined : key.slice(open + 1, close);
}

/** A cluster client's `keyPrefix` (ioredis `Cluster`, node-redis `createCluster`), which it puts before every key; `''` for none. */
function clusterKeyPrefix(value: object, family: Family): string {
  const client = value as { isCluster?: unknown; options?: { keyPrefix?: unknown }; _options?: { keyPrefix?: unknown } };
  let prefix: unknown;
  if (family === 'ioredis' && client.isCluster === true) prefix = client.options?.keyPrefix;
  else if (family === 'node-redis' && isNodeRedisCluster(value)) prefix = client._options?.keyPrefix;
  if (typeof prefix === 'string') return prefix;
  // A Buffer prefix (ioredis takes one) hashes as its bytes: one byte a character finds the same braces.
  return Buffer.isBuffer(prefix) ? prefix.toString('latin1') : '';
}

/**
 * One script reaches all of a store's keys: on a Redis Cluster they must hash to one slot, which their
 * hash tag (`rlc:{<key>}:...`) ensures unless a cluster client's `keyPrefix` comes first with a `{` the
 * tag can not survive (`{}`: Redis then hashes each key whole).
 */
function checkHashTag(prefix: string, key: string): void {
  if (prefix === '') return;
  const layout = new KeyLayout(key);
  const keys = [...layout.client, ...layout.tenant('tenant')].map((name) => prefix + name);
  const tags = new Set(keys.map(hashTag));
  if (tags.size === 1 && !tags.has(undefined)) return;
  throw new TypeError(
    `Expected \`redis\`, a Redis Cluster client, to keep the store's keys under one hash tag, got one with keyPrefix ${describe(prefix)}: ` +
      `Redis would hash \`${keys[0] ?? ''}\` whole, and the store's keys would land in different slots (CROSSSLOT). ` +
      'Use a keyPrefix without `{}` (one with a tag, such as `{app}:`, is fine: every key then hashes by it)',
  );
}

/**
 * The client given as `redis`, told apart by its members: an ioredis or iovalkey client as it is, a
 * node-redis client adapted (`NodeRedisAdapter`). A TypeError names what was given when it is none of
 * them, or a cluster client whose `keyPrefix` would put the store's keys in different slots. Nothing
 * is sent and no listener added.
 */
export function redisClientOf(value: unknown): { redis: RedisLike; checkKey(key: string): void } {
  if (typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then !== 'function') {
    const object = value as Record<string, unknown>;
    for (const family of ['ioredis', 'node-redis'] as const) {
      if (missing(object, family).length > 0) continue;
      const redis = family === 'ioredis' ? (value as RedisLike) : new NodeRedisAdapter(value as NodeRedisLike);
      return { redis, checkKey: (key) => checkHashTag(clusterKeyPrefix(value, family), key) };
    }
  }
  throw new TypeError(`Expected \`redis\` to be ${SUPPORTED}, got ${given(value)}`);
}
