// The priority queue: lower priority first; within a priority keys take turns (deficit round robin) or arrive in order.
import { IndexedHeap } from './indexed-heap.js';

/** How keys share a priority: `'fair'` takes turns among keys, `'fifo'` keeps plain arrival order. */
export type Fairness = 'fair' | 'fifo';

/**
 * Whose turn an item waits for: one key's work (or the work without a key). The queue keeps its lanes;
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
  /** Its turns per round among the keys of a priority, >= 1: twice the share, twice the starts. */
  readonly share: number;
  /** Its items are not offered while parked (see FairQueue#park). */
  parked: boolean;
}

/**
 * The links an item carries while it is queued. The queue owns these fields; an item can be in one
 * queue at a time. Keeping them on the item (not in wrapper nodes) saves an allocation per task.
 */
export interface FairEntry<T> {
  /** Lower runs first. */
  readonly priority: number;
  /** Submission order: lower was submitted first. Breaks ties between equal priorities. */
  readonly seq: number;
  /** Undefined for items without a key: they share the queue's own group. */
  readonly tenant: LaneGroup<T> | undefined;
  /** Its neighbours in its lane (its group's items of its priority, in seq order). */
  lanePrev: T | null;
  laneNext: T | null;
  /**
   * The `id` of the queue that holds it, or 0 (a number, not the queue: a job can fold it into bits of
   * a field it has anyway). Queues an item may move between have different ids.
   */
  queuedIn: number;
}

/** The largest queue id: a Job keeps `queuedIn` in two bits. */
export const MAX_QUEUE_ID = 3;

/** The queue's order: `a` runs before `b` (a lower `priority`, or the same and submitted first). */
export function runsBefore<T extends FairEntry<T>>(a: T, b: T): boolean {
  return a.priority < b.priority || (a.priority === b.priority && a.seq < b.seq);
}

/** One group's items of one priority, first in first out, and its place among the turns. */
export class Lane<T> {
  readonly group: LaneGroup<T>;
  readonly level: FairLevel<T>;
  head: T | null = null;
  tail: T | null = null;
  size = 0;
  /** Items that left to await a store's answer (see `hold`): the lane lives on for them. */
  holds = 0;
  /** Its held item is coming back (see `hold`): it re-enters the turns where it left, its deficit kept. */
  keepsTurn = false;
  /** In the turns: its level's round (`'fair'`) or heap (`'fifo'`). */
  ready = false;
  /** Starts left in its turn (`'fair'`): its share is added when its turn comes, one start takes 1. */
  deficit = 0;
  previous: Lane<T> | null = null;
  next: Lane<T> | null = null;
  /** Its neighbours among its level's lanes, in the turns or not. */
  levelPrev: Lane<T> | null = null;
  levelNext: Lane<T> | null = null;
  /** Its place in its level's heap (`'fifo'`), -1 when not there. */
  position = -1;

  constructor(group: LaneGroup<T>, level: FairLevel<T>) {
    this.group = group;
    this.level = level;
  }
}

/** The lanes of one priority. */
export class FairLevel<T> {
  readonly priority: number;
  /**
   * `'fair'`: the lanes in the turns, a circular list from the one whose turn it is (its `previous` is
   * the back of the round). A turn that ends moves this to the next lane and writes nothing else.
   */
  first: Lane<T> | null = null;
  /** `'fifo'`: the lanes in the turns, the one whose head came first on top. */
  readonly heap: IndexedHeap<Lane<T>> | null;
  ready = 0;
  /** Lanes of this priority (with items, or holds): at 0 the level goes. */
  lanes = 0;
  /** Its lanes, every one (in the turns or not): for `last()`. */
  firstLane: Lane<T> | null = null;
  /** Items queued in its lanes (not those held out for an answer). */
  items = 0;
  position = -1;
  /** Its place among the levels with items, worst first (for `last()`), -1 when not there. */
  worstPosition = -1;

  constructor(priority: number, fairness: Fairness) {
    this.priority = priority;
    this.heap =
      fairness === 'fifo'
        ? new IndexedHeap<Lane<T>>(
            (a, b) => (a.head as FairEntry<T>).seq < (b.head as FairEntry<T>).seq,
            (lane, position) => {
              lane.position = position;
            },
          )
        : null;
  }
}

/**
 * A priority queue: lower `priority` first. Within a priority, each key's items form a lane (first in
 * first out); with `'fair'` the lanes take turns, with `'fifo'` the lane whose head came first goes
 * first (with no keys, or `keyed: false`: first in first out among equals). Items without a key form one
 * more lane. Push, take and remove cost O(1), plus O(log L) when a priority appears or empties (L:
 * distinct priorities, usually a handful); `last()` costs O(lanes of the worst priority) and `oldest()`
 * O(lanes): only a full queue's overflow asks them. No list keeps the order items entered (it cost two
 * links per item and, with several priorities, two cache misses per start): `clear()` sorts instead.
 *
 * `'fair'` is deficit round robin: the lanes of a priority wait in a round; when a lane's turn comes its
 * share is added to its deficit, and it starts items while the deficit holds a whole start, then goes
 * to the back. So with equal shares keys take one start each in turn, and a key of share 2 takes two.
 * A lane that comes (back) goes to the back of the round with no deficit: a key idle for long gets no
 * credit for it, and a key that leaves and comes back at once (one task at a time) does not jump a
 * backlog. Chosen over start-time fair queuing (a heap of virtual times) because picking the next item
 * is O(1), not O(log n) in the keys waiting: with 10,000 keys that heap's upkeep was most of a key's
 * cost per task. Shares are at least 1, so a turn never passes a lane over.
 *
 * A parked group's lanes step out of the turns (a key whose own limits are full must not hold back
 * the others) until `unpark`; its items stay in the queue, counted and visible to `last()`/`oldest()`.
 */
export class FairQueue<T extends FairEntry<T>> {
  readonly fairness: Fairness;
  /** False: items are taken as keyless (one lane per priority), whatever their `tenant`. */
  readonly #keyed: boolean;
  #size = 0;
  readonly #levels = new Map<number, FairLevel<T>>();
  /** Levels with items, the highest priority number on top: for `last()`. */
  readonly #worstLevels = new IndexedHeap<FairLevel<T>>(
    (a, b) => a.priority > b.priority,
    (level, position) => {
      level.worstPosition = position;
    },
  );
  /** Levels with a lane in the turns, best priority first. */
  readonly #readyLevels = new IndexedHeap<FairLevel<T>>(
    (a, b) => a.priority < b.priority,
    (level, position) => {
      level.position = position;
    },
  );
  /** The group of items without a key. */
  readonly #shared: LaneGroup<T> = { lane: null, lanes: null, share: 1, parked: false };
  /** What its items' `queuedIn` holds: an integer from 1 to MAX_QUEUE_ID. */
  readonly id: number;

  constructor(fairness: Fairness, keyed = true, id = 1) {
    if (!Number.isInteger(id) || id < 1 || id > MAX_QUEUE_ID)
      throw new RangeError(`Expected a queue id from 1 to ${MAX_QUEUE_ID}, got ${id}`);
    this.fairness = fairness;
    this.#keyed = keyed;
    this.id = id;
  }

  get size(): number {
    return this.#size;
  }

  has(item: T): boolean {
    return item.queuedIn === this.id;
  }

  /** The item whose turn it is, among groups not parked. */
  peek(): T | undefined {
    const level = this.#readyLevels.peek();
    if (level === undefined) return undefined;
    if (level.heap !== null) return level.heap.peek()?.head ?? undefined;
    // The lane at the front of the round: its turn begins when its deficit holds no whole start.
    let lane = level.first as Lane<T>;
    while (lane.deficit < 1) {
      lane.deficit += lane.group.share;
      if (lane.deficit >= 1) break;
      this.#toBack(lane);
      lane = level.first as Lane<T>;
    }
    return lane.head ?? undefined;
  }

  /** The item that would run last by priority: the highest `priority` number, the newest among equals. */
  last(): T | undefined {
    const level = this.#worstLevels.peek();
    let last: T | undefined;
    for (let lane = level?.firstLane ?? null; lane !== null; lane = lane.levelNext) {
      const tail = lane.tail;
      if (tail !== null && (last === undefined || tail.seq > last.seq)) last = tail;
    }
    return last;
  }

  /** The item that has been in the queue longest (the lowest `seq`). */
  oldest(): T | undefined {
    let oldest: T | undefined;
    for (const level of this.#levels.values()) {
      for (let lane = level.firstLane; lane !== null; lane = lane.levelNext) {
        const head = lane.head;
        if (head !== null && (oldest === undefined || head.seq < oldest.seq)) oldest = head;
      }
    }
    return oldest;
  }

  /** Takes out and returns the item whose turn it is. */
  shift(): T | undefined {
    const item = this.peek();
    if (item !== undefined) this.take(item);
    return item;
  }

  push(item: T): void {
    this.#enterItem(item);
    const group = this.#groupOf(item);
    const lane = laneAt(group, item.priority) ?? this.#newLane(group, item.priority);
    const oldHead = lane.head;
    this.#link(lane, item);
    if (group.parked) return;
    if (!lane.ready) this.#enter(lane);
    else if (lane.level.heap !== null && lane.head !== oldHead) lane.level.heap.update(lane.position);
  }

  /** Takes `item` out (it leaves without starting: its lane's turn is not charged). False when not queued here. */
  remove(item: T): boolean {
    if (item.queuedIn !== this.id) return false;
    this.#leaveItem(item);
    this.#tidy(this.#unlink(item));
    return true;
  }

  /** `item` (queued, the first) starts: it leaves, and its lane's turn is charged. */
  take(item: T): void {
    this.#leaveItem(item);
    const lane = this.#unlink(item);
    this.#charge(lane);
    this.#tidy(lane);
  }

  /**
   * `item` (queued, the first) leaves to await a store's answer: its lane lives on for `unhold`, and
   * keeps its turn: a refused item pushed back comes back as the first again (the store's refusal,
   * remembered for it, then holds the line, instead of the next key's item asking at once).
   */
  hold(item: T): void {
    this.#leaveItem(item);
    const lane = this.#unlink(item);
    lane.holds++;
    lane.keepsTurn = true;
  }

  /** The answer for a held `item` came: `started` charges its lane's turn; otherwise it may be pushed back. */
  unhold(item: T, started: boolean): void {
    const lane = laneAt(this.#groupOf(item), item.priority);
    if (lane === undefined || lane.holds === 0) return;
    lane.holds--;
    lane.keepsTurn = false;
    if (started) this.#charge(lane);
    this.#tidy(lane);
  }

  /** `group`'s lanes step out of the turns until `unpark` (its items stay queued). */
  park(group: LaneGroup<T>): void {
    if (group.parked) return;
    group.parked = true;
    for (const lane of lanesOf(group)) if (lane.ready) this.#leave(lane);
  }

  /** `group`'s lanes take turns again, at the back of their rounds. */
  unpark(group: LaneGroup<T>): void {
    if (!group.parked) return;
    group.parked = false;
    for (const lane of lanesOf(group)) if (lane.size > 0) this.#enter(lane);
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
    const items = [...this].sort((a, b) => a.seq - b.seq);
    for (const item of items) this.remove(item);
    return items;
  }

  /** Every item, by priority and lane (not in the order they entered). Do not change the queue while iterating. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (const level of this.#levels.values()) {
      for (let lane = level.firstLane; lane !== null; lane = lane.levelNext) {
        for (let item = lane.head; item !== null; item = item.laneNext) yield item;
      }
    }
  }

  #groupOf(item: T): LaneGroup<T> {
    return this.#keyed ? (item.tenant ?? this.#shared) : this.#shared;
  }

  #enterItem(item: T): void {
    item.queuedIn = this.id;
    this.#size++;
  }

  #leaveItem(item: T): void {
    item.queuedIn = 0;
    this.#size--;
  }

  #newLane(group: LaneGroup<T>, priority: number): Lane<T> {
    let level = this.#levels.get(priority);
    if (level === undefined) {
      level = new FairLevel<T>(priority, this.fairness);
      this.#levels.set(priority, level);
    }
    const lane = new Lane<T>(group, level);
    level.lanes++;
    lane.levelNext = level.firstLane;
    if (level.firstLane !== null) level.firstLane.levelPrev = lane;
    level.firstLane = lane;
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
    if (lane.level.items++ === 0) this.#worstLevels.push(lane.level);
  }

  /** Takes `item` out of its lane; an emptied lane leaves the turns (the caller tidies it). */
  #unlink(item: T): Lane<T> {
    const lane = laneAt(this.#groupOf(item), item.priority) as Lane<T>;
    const wasHead = item.lanePrev === null;
    if (item.lanePrev === null) lane.head = item.laneNext;
    else item.lanePrev.laneNext = item.laneNext;
    if (item.laneNext === null) lane.tail = item.lanePrev;
    else item.laneNext.lanePrev = item.lanePrev;
    item.lanePrev = item.laneNext = null;
    lane.size--;
    if (--lane.level.items === 0) this.#worstLevels.removeAt(lane.level.worstPosition);
    if (lane.ready) {
      if (lane.size === 0) this.#leave(lane);
      else if (wasHead && lane.level.heap !== null) lane.level.heap.update(lane.position);
    }
    return lane;
  }

  /** A start from `lane` (`'fair'`): it takes one from its deficit; with less than one start left, its turn ends. */
  #charge(lane: Lane<T>): void {
    if (this.fairness === 'fifo') return;
    lane.deficit -= 1;
    if (lane.ready && lane.deficit < 1) this.#toBack(lane);
  }

  /** A lane with nothing queued or held goes; so does a level with no lane left. */
  #tidy(lane: Lane<T>): void {
    if (lane.size > 0 || lane.holds > 0) return;
    const group = lane.group;
    const level = lane.level;
    if (group.lane === lane) group.lane = null;
    else group.lanes?.delete(level.priority);
    if (lane.levelPrev === null) level.firstLane = lane.levelNext;
    else lane.levelPrev.levelNext = lane.levelNext;
    if (lane.levelNext !== null) lane.levelNext.levelPrev = lane.levelPrev;
    if (--level.lanes === 0) this.#levels.delete(level.priority);
  }

  /** Into the turns: at the back of its round with no deficit, or where it left (see `hold`). */
  #enter(lane: Lane<T>): void {
    const level = lane.level;
    lane.ready = true;
    if (level.heap !== null) {
      level.heap.push(lane);
    } else {
      if (!lane.keepsTurn) lane.deficit = 0;
      if (level.first === null) {
        lane.previous = lane.next = lane;
        level.first = lane;
      } else {
        this.#enterRing(level, lane);
        // A lane that keeps its turn is the first again.
        if (lane.keepsTurn) level.first = lane;
      }
    }
    if (++level.ready === 1) this.#readyLevels.push(level);
  }

  #leave(lane: Lane<T>): void {
    const level = lane.level;
    lane.ready = false;
    if (level.heap !== null) level.heap.removeAt(lane.position);
    else this.#unring(lane);
    if (--level.ready === 0) this.#readyLevels.removeAt(level.position);
  }

  /** `lane` (in the round) goes to its back; its deficit carries what is left of a whole start. */
  #toBack(lane: Lane<T>): void {
    const level = lane.level;
    if (level.first === lane) {
      level.first = lane.next;
      return;
    }
    this.#unring(lane);
    this.#enterRing(level, lane);
  }

  /** `lane` joins the round at its back: just before the first. */
  #enterRing(level: FairLevel<T>, lane: Lane<T>): void {
    const first = level.first as Lane<T>;
    const back = first.previous as Lane<T>;
    lane.previous = back;
    lane.next = first;
    back.next = lane;
    first.previous = lane;
  }

  #unring(lane: Lane<T>): void {
    const level = lane.level;
    if (lane.next === lane) {
      level.first = null;
    } else {
      (lane.previous as Lane<T>).next = lane.next;
      (lane.next as Lane<T>).previous = lane.previous;
      if (level.first === lane) level.first = lane.next;
    }
    lane.previous = lane.next = null;
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
