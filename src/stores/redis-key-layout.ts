// Where a RedisStore's state lives in Redis: the client's keys and each tenant key's, all under one
// Redis Cluster hash tag, and the KEYS a script is given for the tenant keys it is about.

/** The client's keys, in the order every script reads KEYS in. */
export const CLIENT_KEYS = [
  'log',
  'leases',
  'info',
  'state',
  'clients',
  'spend',
  'costs',
  'sums',
  'waiters',
  'waitUntil',
  'sleepers',
] as const;
/** A tenant key's keys, in the order of its group in KEYS: its own counters, no leases (they are the client's). */
export const TENANT_KEYS = ['log', 'state', 'spend', 'costs', 'sums'] as const;

/**
 * The store's keys: `rlc:{<store key>}:<name>` for the client's, and
 * `rlc:{<store key>}:k:<tenant key>:<name>` for a tenant key's (`name`: log, state, spend, costs, sums).
 *
 * The hash tag is the store key's braces, which come first: Redis hashes the text between the first `{`
 * and the first `}` after it, so nothing in the tenant key (braces included) can move its keys to
 * another slot, and one script reaches the client's counters and a key's together. The tenant key is
 * kept as it is (Redis keys are binary-safe), so an operator can find it: every name ends with `:`
 * and one of a fixed set of names without `:`, so the tenant key is what lies between `:k:` and the
 * last `:`, and no two tenant keys (nor a tenant key and the client's own keys, which have no `k:`
 * part) share a Redis key.
 */
export class KeyLayout {
  readonly #prefix: string;
  /** The client's keys, in KEYS order. */
  readonly client: readonly string[];

  constructor(storeKey: string) {
    this.#prefix = `rlc:{${storeKey}}:`;
    this.client = CLIENT_KEYS.map((name) => this.#prefix + name);
  }

  /** Where settles, releases and refunds are announced (pub/sub, not a key). */
  get channel(): string {
    return `${this.#prefix}freed`;
  }

  /** A tenant key's keys, in the order of its group in KEYS. */
  tenant(key: string): string[] {
    return TENANT_KEYS.map((name) => `${this.#prefix}k:${key}:${name}`);
  }
}

/**
 * The tenant keys one command is about, each given a group number in the order first seen (1, 2, ...;
 * 0 for none), and the KEYS that carry them after the client's.
 */
export class TenantGroups {
  readonly #layout: KeyLayout;
  readonly #groups = new Map<string, number>();
  readonly #keys: string[] = [];

  constructor(layout: KeyLayout) {
    this.#layout = layout;
  }

  /** The group of `key` (0 for none): what the scripts read in ARGV beside a grant's id. */
  group(key: string | undefined): number {
    if (key === undefined) return 0;
    let group = this.#groups.get(key);
    if (group === undefined) {
      group = this.#groups.size + 1;
      this.#groups.set(key, group);
      this.#keys.push(...this.#layout.tenant(key));
    }
    return group;
  }

  /** Every key of the command: the client's, then each group's. */
  get keys(): string[] {
    return [...this.#layout.client, ...this.#keys];
  }
}
