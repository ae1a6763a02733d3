// The fair line: the priority queue's order, with keys taking turns within a priority (start-time fair queuing).
import { IndexedHeap } from './indexed-heap.js';
import { PriorityQueue, type QueueEntry } from './priority-queue.js';

/** How keys share a priority: `'fair'` takes turns among keys, `'fifo'` keeps plain arrival order. */
export type Fairness = 'fair' | 'fifo';

/**
 * Whose turn an item waits for: one key's work (or the work without a key). The queue keeps `lanes`;
 * the owner says how large a share it gets and whether it is parked (its own limits are full, so its
 * items must not be offered: another key's go first).
 */
export interface LaneGroup<T> {
  /**
   * Its lanes, one per priority it has items at; the queue's own: its first lane, and the others when
   * it has several (most keys use one priority: a Map costs ~180 bytes).
   */
  lane: Lane<T> | null;
  lanes: Map<number, Lane<T>> | null;
  /** Its weight among the keys of a priority: twice the weight, twice the turns. */
  readonly share: number;
  /** Its items are not offered while parked (see FairQueue#park). */
  parked: boolean;
}

/** The links an item carries for its lane, beside the priority queue's. */
export interface FairEntry<T> extends QueueEntry<T> {
  /** Undefined for items without a key: they share the queue's own group. */
  readonly tenant: LaneGroup<T> | undefined;
  lanePrev: T | null;
  laneNext: T | null;
}

/** One group's items of one priority, first in first out, and its place among the turns. */
export class Lane<T> {
  readonly group: LaneGroup<T>;
  readonly level: FairLevel<T>;
  head: T | null = null;
  tail: T | null = null;
  size = 0;
  /** Items that left to await a store's answer (see `hold`): their turn is charged when one starts. */
  holds = 0;
  /** Its held item is coming back (see `hold`): it re-enters the turns with its tag and stamp as they were. */
  keepsTurn = false;
  /**
   * Virtual start time of its head: lower goes first. Advances by 1 / share with every start, and is
   * kept while the lane is empty (its level busy), so a key that leaves and comes back at once does not
   * go first again.
   */
  tag: number;
  /** Ties between equal tags go to the lane that took its tag first: round robin. */
  stamp = 0;
  position = -1;

  constructor(group: LaneGroup<T>, level: FairLevel<T>) {
    this.group = group;
    this.level = level;
    this.tag = level.virtualTime;
  }
}

/** The lanes of one priority. */
export class FairLevel<T> {
  readonly priority: number;
  /** Lanes with items, not parked, by their turn. */
  readonly ready: IndexedHeap<Lane<T>>;
  /** Every lane of this priority, empty ones too: they keep their tags while the level is busy. */
  readonly lanes = new Set<Lane<T>>();
  /** Items in its lanes, and items held out for a store's answer: at 0 the level and its lanes go. */
  waiting = 0;
  /** The start tag of the last start: a lane that comes (back) gets no earlier turn than this. */
  virtualTime = 0;
  position = -1;

  constructor(priority: number, before: (a: Lane<T>, b: Lane<T>) => boolean) {
    this.priority = priority;
    this.ready = new IndexedHeap<Lane<T>>(before, (lane, position) => {
      lane.position = position;
    });
  }
}

/**
 * The line of the request queue: the same items and order as a PriorityQueue (lower priority first),
 * except who goes first within a priority. Each key's items form a lane; with `'fair'` the lanes take
 * turns (start-time fair queuing: a lane's tag grows by 1 / share per start, the lowest tag goes first,
 * ties in round-robin order), with `'fifo'` the lane whose head came first goes first. Items without a
 * key form one more lane.
 *
 * Start-time fair queuing rather than deficit round robin: every start costs one turn whatever its
 * weight, fractional shares need no quantum, and picking the next item is a heap's peek, O(log n) in
 * the lanes waiting to change (a start, a lane coming or going). A lane that comes back starts at the
 * later of its own tag and the tag of the last start, so leaving and coming back never buys a key extra
 * turns, and a key idle for long gets no credit for it. Empty lanes keep their tags until their level
 * has nothing left waiting; then the level and its lanes go.
 *
 * A parked group's lanes step out of the turns (a key whose own limits are full must not hold back
 * the others) until `unpark`; its items stay in the queue, counted and visible to `last()`/`oldest()`.
 */
export class FairQueue<T extends FairEntry<T>> {
  readonly fairness: Fairness;
  /** Every item, in the priority queue's order: for `last()`, `oldest()`, iteration and `size`. */
  readonly #all = new PriorityQueue<T>();
  readonly #levels = new Map<number, FairLevel<T>>();
  /** Levels with a ready lane, best priority first. */
  readonly #readyLevels = new IndexedHeap<FairLevel<T>>(
    (a, b) => a.priority < b.priority,
    (level, position) => {
      level.position = position;
    },
  );
  /** The group of items without a key. */
  readonly #shared: LaneGroup<T> = { lane: null, lanes: null, share: 1, parked: false };
  readonly #before: (a: Lane<T>, b: Lane<T>) => boolean;
  #stamps = 0;

  constructor(fairness: Fairness) {
    this.fairness = fairness;
    this.#before =
      fairness === 'fair'
        ? (a, b) => a.tag < b.tag || (a.tag === b.tag && a.stamp < b.stamp)
        : (a, b) => (a.head as T).seq < (b.head as T).seq;
  }

  get size(): number {
    return this.#all.size;
  }

  /** The item whose turn it is, among groups not parked. */
  peek(): T | undefined {
    return this.#readyLevels.peek()?.ready.peek()?.head ?? undefined;
  }

  /** The item that would run last by priority: the highest `priority` number, the newest among equals. */
  last(): T | undefined {
    return this.#all.last();
  }

  oldest(): T | undefined {
    return this.#all.oldest();
  }

  push(item: T): void {
    this.#all.push(item);
    const group = item.tenant ?? this.#shared;
    const lane = laneAt(group, item.priority) ?? this.#newLane(group, item.priority);
    const wasEmpty = lane.size === 0;
    const oldHead = lane.head;
    this.#link(lane, item);
    if (group.parked) return;
    if (wasEmpty) this.#enter(lane);
    else if (this.fairness === 'fifo' && lane.head !== oldHead) lane.level.ready.update(lane.position);
  }

  /** Takes `item` out (it leaves without starting: its lane's turn is not charged). False when not queued here. */
  remove(item: T): boolean {
    if (!this.#all.remove(item)) return false;
    this.#unlink(item);
    return true;
  }

  /** `item` (queued) starts: it leaves, and its lane's turn is charged. */
  take(item: T): void {
    this.#all.remove(item);
    const lane = this.#unlink(item, false);
    this.#charge(lane);
    this.#tidy(lane);
  }

  /**
   * `item` (queued) leaves to await a store's answer: its lane lives on for `unhold`, and keeps its turn:
   * a refused item pushed back comes back as the first again (the store's refusal, remembered for it,
   * then holds the line, instead of the next key's item asking at once).
   */
  hold(item: T): void {
    this.#all.remove(item);
    const lane = this.#unlink(item, false);
    lane.holds++;
    lane.level.waiting++;
    lane.keepsTurn = true;
  }

  /** The answer for a held `item` came: `started` charges its lane's turn; otherwise it may be pushed back. */
  unhold(item: T, started: boolean): void {
    const lane = laneAt(item.tenant ?? this.#shared, item.priority);
    if (lane === undefined || lane.holds === 0) return;
    lane.holds--;
    lane.level.waiting--;
    lane.keepsTurn = false;
    if (started) this.#charge(lane);
    this.#tidy(lane);
  }

  /** `group`'s lanes step out of the turns until `unpark` (its items stay queued). */
  park(group: LaneGroup<T>): void {
    if (group.parked) return;
    group.parked = true;
    for (const lane of lanesOf(group)) if (lane.position !== -1) this.#leave(lane);
  }

  /** `group`'s lanes take turns again; none gets an earlier turn than a lane that never left. */
  unpark(group: LaneGroup<T>): void {
    if (!group.parked) return;
    group.parked = false;
    for (const lane of lanesOf(group)) {
      if (lane.size === 0) continue;
      lane.tag = Math.max(lane.tag, lane.level.virtualTime);
      this.#enter(lane);
    }
  }

  /** `group`'s item that came first (O(its lanes)). */
  oldestOf(group: LaneGroup<T>): T | undefined {
    let oldest: T | undefined;
    for (const lane of lanesOf(group)) {
      const head = lane.head;
      if (head !== null && (oldest === undefined || head.seq < oldest.seq)) oldest = head;
    }
    return oldest;
  }

  /** `group`'s item that would run last: its highest `priority` number, its newest among equals (O(its lanes)). */
  lastOf(group: LaneGroup<T>): T | undefined {
    let last: T | undefined;
    for (const lane of lanesOf(group)) {
      const tail = lane.tail;
      if (tail !== null && (last === undefined || tail.priority > last.priority)) last = tail;
    }
    return last;
  }

  /** Removes and returns every item, in the order they entered (held items are not here: unhold them). */
  clear(): T[] {
    const items = this.#all.clear();
    for (const item of items) this.#unlink(item);
    return items;
  }

  [Symbol.iterator](): IterableIterator<T> {
    return this.#all[Symbol.iterator]();
  }

  /** `group` is let go: its lanes (all empty) leave their levels. */
  forget(group: LaneGroup<T>): void {
    for (const lane of lanesOf(group)) {
      lane.level.lanes.delete(lane);
      if (lane.level.waiting === 0 && lane.level.lanes.size === 0) this.#levels.delete(lane.level.priority);
    }
    group.lane = null;
    group.lanes = null;
  }

  #newLane(group: LaneGroup<T>, priority: number): Lane<T> {
    let level = this.#levels.get(priority);
    if (level === undefined) {
      level = new FairLevel<T>(priority, this.#before);
      this.#levels.set(priority, level);
    }
    const lane = new Lane<T>(group, level);
    level.lanes.add(lane);
    if (group.lane === null) group.lane = lane;
    else (group.lanes ??= new Map()).set(priority, lane);
    return lane;
  }

  /** In seq order: new items go at the tail; a retry with an older seq walks from the head. */
  #link(lane: Lane<T>, item: T): void {
    let after = lane.tail;
    if (after !== null && after.seq > item.seq) {
      after = null;
      for (let cursor = lane.head; cursor !== null && cursor.seq < item.seq; cursor = cursor.laneNext) after = cursor;
    }
    item.lanePrev = after;
    item.laneNext = after === null ? lane.head : after.laneNext;
    if (item.laneNext === null) lane.tail = item;
    else item.laneNext.lanePrev = item;
    if (after === null) lane.head = item;
    else after.laneNext = item;
    lane.size++;
    lane.level.waiting++;
  }

  /** Takes `item` out of its lane; `tidy: false` leaves the lane for the caller to charge and tidy. */
  #unlink(item: T, tidy = true): Lane<T> {
    const lane = laneAt(item.tenant ?? this.#shared, item.priority) as Lane<T>;
    const wasHead = item.lanePrev === null;
    if (item.lanePrev === null) lane.head = item.laneNext;
    else item.lanePrev.laneNext = item.laneNext;
    if (item.laneNext === null) lane.tail = item.lanePrev;
    else item.laneNext.lanePrev = item.lanePrev;
    item.lanePrev = item.laneNext = null;
    lane.size--;
    lane.level.waiting--;
    if (lane.position !== -1) {
      if (lane.size === 0) this.#leave(lane);
      else if (wasHead && this.fairness === 'fifo') lane.level.ready.update(lane.position);
    }
    if (tidy) this.#tidy(lane);
    return lane;
  }

  /** A start from `lane`: its next item waits one turn more (1 / share), and virtual time moves to this start's tag. */
  #charge(lane: Lane<T>): void {
    if (this.fairness === 'fifo') return;
    const level = lane.level;
    level.virtualTime = Math.max(level.virtualTime, lane.tag);
    lane.tag += 1 / lane.group.share;
    lane.stamp = ++this.#stamps;
    if (lane.position !== -1) level.ready.update(lane.position);
  }

  /** Once nothing of its level waits, the level goes, and its lanes (their tags no longer matter) with it. */
  #tidy(lane: Lane<T>): void {
    const level = lane.level;
    if (level.waiting > 0) return;
    for (const empty of level.lanes) dropLane(empty);
    level.lanes.clear();
    this.#levels.delete(level.priority);
  }

  #enter(lane: Lane<T>): void {
    const level = lane.level;
    if (this.fairness === 'fair' && !lane.keepsTurn) {
      lane.tag = Math.max(lane.tag, level.virtualTime);
      lane.stamp = ++this.#stamps;
    }
    level.ready.push(lane);
    if (level.ready.size === 1) this.#readyLevels.push(level);
  }

  #leave(lane: Lane<T>): void {
    const level = lane.level;
    level.ready.removeAt(lane.position);
    if (level.ready.size === 0) this.#readyLevels.removeAt(level.position);
  }
}

/** `group`'s lane of `priority`, if it has one. */
function laneAt<T>(group: LaneGroup<T>, priority: number): Lane<T> | undefined {
  const first = group.lane;
  if (first !== null && first.level.priority === priority) return first;
  return group.lanes?.get(priority) ?? undefined;
}

/** Every lane of `group`. */
function* lanesOf<T>(group: LaneGroup<T>): IterableIterator<Lane<T>> {
  if (group.lane !== null) yield group.lane;
  if (group.lanes !== null) yield* group.lanes.values();
}

/** `lane` leaves its group. */
function dropLane<T>(lane: Lane<T>): void {
  const group = lane.group;
  if (group.lane === lane) group.lane = null;
  else group.lanes?.delete(lane.level.priority);
}
