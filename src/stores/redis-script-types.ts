// What the store's scripts are asked and answer: their requests and replies, typed, and the text a cost
// travels as (the scripts themselves: redis-scripts.ts and redis-lua-*.ts).
import type { Cost } from '../core/cost.js';

/** A window as the scripts read it. */
export interface ScriptWindow {
  limit: number;
  windowMs: number;
  /** The currency it counts: `'requests'` when not set. */
  counts?: string | undefined;
  /** A bucket (see ACQUIRE); a sliding window when not set. */
  burst?: number | undefined;
}

/**
 * A grant a command is about: its id, or its id and the tenant key it was granted under (whose counters
 * the command then changes too).
 */
export type GrantRef = string | { readonly id: string; readonly key?: string | undefined };

/** What an acquire asks of Redis (see ACQUIRE). */
export interface AcquireRequest {
  /** Unique grant id, e.g. `${clientId}:${n}`. Any string. */
  id: string;
  clientId: string;
  /** Integer >= 1: the start's amount in every `'requests'` window. */
  weight: number;
  /** Its amounts in the other currencies (integers >= 0), or null for none. */
  cost: Cost | null;
  /** True: the start is recorded now (Redis TIME); false: pending until settle()/release()/lease expiry. */
  settle: boolean;
  /** Shared in-flight budget in units of weight; Infinity = none. */
  concurrency: number;
  leaseTtlMs: number;
  /** safetyMarginMs: every window is widened by it. */
  marginMs: number;
  /** How long this client counts as live after its last acquire. */
  clientTtlMs: number;
  /** The task's priority (lower first; 0 when not set): a refusal leaves word that this process waits with it. */
  priority?: number | undefined;
  /** Whether the process has more tasks waiting after this one: a grant then keeps its word (false when not set). */
  more?: boolean | undefined;
  /** How long a waiting process's word outlives its refusal's wait: the time it needs to ask again (250 when not set). */
  holdMs?: number | undefined;
  /** The version of the shared tightened windows this process knows (see FEEDBACK); -1 (none) when not set. */
  policyVersion?: number | undefined;
  /**
   * How many more starts like this one the process could use at once (its next tasks): a grant may
   * come with up to that many more (see ACQUIRE's batch); 0 when not set.
   */
  extra?: number | undefined;
  /**
   * May be empty. `counts`: the currency a window counts (`'requests'` when not set); `burst`: a bucket
   * (see ACQUIRE), a sliding window when not set.
   */
  windows: readonly ScriptWindow[];
  /** The tenant key the start runs under, and that key's own windows (it must fit them too), if any. */
  key?: { readonly name: string; readonly windows: readonly ScriptWindow[] } | undefined;
}

/** A start made while Redis was down, for `record()`. */
export interface RecordedStart {
  id: string;
  weight: number;
  /** How long ago it started (0 for one still pending). */
  ageMs: number;
  /** Still running: it gets a lease. */
  live: boolean;
  /** Running under a finite shared concurrency: its lease holds its weight of it. */
  holds: boolean;
  /** Running, its start not known yet (an HTTP request before its response): pending, not logged. */
  pending: boolean;
  /** Its amounts in the other currencies (after any amend down), or null for none. */
  cost: Cost | null;
  /** What an amend added to its cost (counted from the amend), or null for none. */
  extra: Cost | null;
  /** How long ago that amend was (0 without one). */
  extraAgeMs: number;
  /** The tenant key it ran under, and how long that key's counters must keep it (its longest window, with the margin). */
  key?: { readonly name: string; readonly spanMs: number } | undefined;
}

/** A grant whose real cost is known, for `amend()`. */
export interface Amendment {
  id: string;
  /** The cost it was granted with. */
  estimate: Cost | null;
  /** What it really cost. */
  cost: Cost;
  /** The tenant key it was granted under, if any. */
  key?: string | undefined;
}

/**
 * A cost as the scripts read it: "points=3,tokens=1800", the amounts above 0 by currency name, '' for
 * none. Sorted, so the same cost is always the same text.
 */
export function encodeCost(cost: Cost | null): string {
  if (cost === null) return '';
  const parts: string[] = [];
  for (const name of Object.keys(cost).sort()) {
    const amount = cost[name] ?? 0;
    if (amount > 0) parts.push(`${name}=${amount}`);
  }
  return parts.join(',');
}

/**
 * What held the room of a refused acquire, as the acquire script names it: the windows, the shared
 * concurrency or pending starts; or the fleet: a cooldown or a spent budget the server gave some process
 * (`'cooldown'`, `'budget'`), or another process waiting with a better priority (`'priority'`).
 */
export type BlockedBy = 'window' | 'concurrency' | 'pending' | 'cooldown' | 'budget' | 'priority';

/** Every `BlockedBy`, for checking replies. */
export const BLOCKED_BY: ReadonlySet<string> = new Set<BlockedBy>(['window', 'concurrency', 'pending', 'cooldown', 'budget', 'priority']);

/** What the acquire script answers, checked. */
export interface AcquireReply {
  granted: boolean;
  /**
   * 0 when granted. Else ms until a grant could be possible; when the room is held by leases
   * (concurrency) or by pending starts, the time until the earliest such lease expires (a release or
   * settle earlier is announced on the channel).
   */
  waitMs: number;
  blockedBy: BlockedBy | null;
  /**
   * Units used in each window after this call (same order as request.windows), pending included; a
   * bucket's: `burst - level`. Empty when the tenant key's windows refused (the client's were not asked).
   */
  used: number[];
  /** For a keyed acquire: whether the key's own windows refused it (false: granted, or the client's refused). */
  byKey?: boolean;
  /** For a keyed acquire: the units used in each of the key's windows, as `used`. */
  keyUsed?: number[];
  /** Live clients (distinct clientIds seen within clientTtlMs), this one included. */
  clients: number;
  /** How many other processes wait in line for the shared concurrency after this answer. */
  line: number;
  /**
   * Whether this process waits in line for it: refused by it, or granted with more to ask for while
   * the others in line take every unit left (it joined the back: its next question would be refused).
   */
  inLine: boolean;
  /** The version of the windows servers tightened, shared by the fleet (0: none). */
  policyVersion: number;
  /** With a grant: how many more starts like it were granted besides, ids `<id>+1` to `<id>+extra`. */
  extra: number;
  /** Those windows (requests, sliding), when the request's `policyVersion` was not that version. */
  policy?: ScriptWindow[];
}

/** Request windows as FEEDBACK and ACQUIRE carry them: "limit:windowMs,...". */
export function encodeWindows(windows: readonly ScriptWindow[]): string {
  return windows.map((window) => `${window.limit}:${window.windowMs}`).join(',');
}

/** See `encodeWindows`; undefined for text that is not such a list. */
export function decodeWindows(text: string): ScriptWindow[] | undefined {
  if (!/^\d+:\d+(,\d+:\d+)*$/.test(text)) return undefined;
  return text.split(',').map((part) => {
    const [limit, windowMs] = part.split(':').map(Number) as [number, number];
    return { limit, windowMs, counts: 'requests' };
  });
}
