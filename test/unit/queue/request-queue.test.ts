import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { OverflowStrategy } from '../../../src/core/options.js';
import { RequestQueue, type RequestQueueEntry } from '../../../src/queue/request-queue.js';
import { QueueItem } from './queue-item.js';

class Item extends QueueItem<Item> implements RequestQueueEntry<Item> {
  state = 'queued';
}

/** A queue and a factory of items with increasing seqs, as the scheduler makes them. */
function setUp(maxSize: number, overflow: OverflowStrategy) {
  const queue = new RequestQueue<Item>(maxSize, overflow);
  let seq = 0;
  const item = (priority: number) => new Item(priority, seq++);
  return { queue, item };
}

/** Starts every item, as the scheduler's start loop does, and returns their seqs in start order. */
function drain(queue: RequestQueue<Item>): number[] {
  const started: number[] = [];
  for (let first = queue.first; first !== undefined; first = queue.first) {
    queue.take(first);
    first.state = 'running';
    started.push(first.seq);
  }
  return started;
}

const seqs = (items: Iterable<Item>) => [...items].map((item) => item.seq);

function sizes(queue: RequestQueue<Item>) {
  return { queued: queue.queued, blocked: queue.blocked, waiting: queue.waiting, isFull: queue.isFull };
}

describe('RequestQueue', () => {
  it('below its bound takes every item in, best first, and counts them', () => {
    const { queue, item } = setUp(3, 'reject');
    const items = [item(5), item(1), item(5)];
    for (const each of items) expect(queue.offer(each)).toBeUndefined();
    expect(sizes(queue)).toEqual({ queued: 3, blocked: 0, waiting: 3, isFull: true });
    expect(queue.first).toBe(items[1]);
    expect(drain(queue)).toEqual([1, 0, 2]);
    expect(sizes(queue)).toEqual({ queued: 0, blocked: 0, waiting: 0, isFull: false });
  });

  it("'drop-oldest' names the item that entered first, whatever its priority", () => {
    const { queue, item } = setUp(2, 'drop-oldest');
    const oldest = item(0);
    queue.offer(oldest);
    queue.offer(item(9));
    const extra = item(5);
    expect(queue.offer(extra)).toBe(oldest);
    // Over the bound until the caller removes the victim.
    expect(queue.queued).toBe(3);
    queue.remove(oldest);
    expect(sizes(queue)).toEqual({ queued: 2, blocked: 0, waiting: 2, isFull: true });
    expect(drain(queue)).toEqual([2, 1]);
  });

  it("'drop-lowest-priority' names the item that would run last, which may be the new one", () => {
    const { queue, item } = setUp(2, 'drop-lowest-priority');
    const worst = item(7);
    queue.offer(worst);
    queue.offer(item(1));
    expect(queue.offer(item(3))).toBe(worst);
    queue.remove(worst);
    // The newest among equals runs last: a new item as bad as the worst is the one dropped.
    const equal = item(3);
    expect(queue.offer(equal)).toBe(equal);
    queue.remove(equal);
    const worse = item(8);
    expect(queue.offer(worse)).toBe(worse);
    queue.remove(worse);
    expect(sizes(queue)).toEqual({ queued: 2, blocked: 0, waiting: 2, isFull: true });
    expect(drain(queue)).toEqual([1, 2]);
  });

  it("'reject' is the caller's to refuse: isFull tells when, counting the item out for its answer", () => {
    const { queue, item } = setUp(2, 'reject');
    const first = item(0);
    queue.offer(first);
    expect(queue.isFull).toBe(false);
    queue.holdPlace(first);
    queue.offer(item(0));
    expect(queue.isFull).toBe(true);
    queue.releasePlace();
    expect(queue.isFull).toBe(false);
  });

  it("'block': a worse item waits outside the full line; a better one takes the worst's place", () => {
    const { queue, item } = setUp(2, 'block');
    const a = item(1);
    const b = item(5);
    queue.offer(a);
    queue.offer(b);
    const worse = item(6);
    expect(queue.offer(worse)).toBeUndefined();
    expect(worse.state).toBe('blocked');
    const better = item(2);
    expect(queue.offer(better)).toBeUndefined();
    // `b` was the worst in line: it waits outside now, and `better` is in line.
    expect(better.state).toBe('queued');
    expect(b.state).toBe('blocked');
    expect(seqs(queue.queuedItems())).toEqual([a.seq, better.seq]);
    expect(seqs(queue.blockedItems())).toEqual([worse.seq, b.seq]);
    expect(sizes(queue)).toEqual({ queued: 2, blocked: 2, waiting: 4, isFull: true });
    // An equal priority does not overtake: first in, first out holds across the line and outside.
    const equal = item(2);
    queue.offer(equal);
    expect(equal.state).toBe('blocked');
    expect(drain(queue)).toEqual([a.seq, better.seq, equal.seq, b.seq, worse.seq]);
  });

  it("'block': starting one lets the best blocked item in, and only while there is room", () => {
    const { queue, item } = setUp(2, 'block');
    const items = [item(0), item(0), item(3), item(1), item(2)];
    for (const each of items) queue.offer(each);
    expect(seqs(queue.blockedItems())).toEqual([2, 3, 4]);
    queue.take(items[0]!);
    expect(items[3]!.state).toBe('queued');
    expect(seqs(queue.queuedItems())).toEqual([1, 3]);
    expect(sizes(queue)).toEqual({ queued: 2, blocked: 2, waiting: 4, isFull: true });
  });

  it('first in first out among equal priorities across the line and the blocked items', () => {
    const { queue, item } = setUp(3, 'block');
    const priorities = [2, 0, 2, 1, 0, 2, 1, 0, 2, 1, 0];
    const items = priorities.map((priority) => item(priority));
    for (const each of items) queue.offer(each);
    expect(sizes(queue)).toEqual({ queued: 3, blocked: 8, waiting: 11, isFull: true });
    const expected = items
      .slice()
      .sort((x, y) => x.priority - y.priority || x.seq - y.seq)
      .map((each) => each.seq);
    expect(drain(queue)).toEqual(expected);
  });

  it('an item out of line for its answer keeps its place; a better newcomer can not take that place', () => {
    const { queue, item } = setUp(2, 'block');
    const away = item(5);
    const other = item(5);
    queue.offer(away);
    queue.offer(other);
    queue.holdPlace(away);
    expect(away.state).toBe('acquiring');
    expect(queue.first).toBe(other);
    expect(sizes(queue)).toEqual({ queued: 2, blocked: 0, waiting: 2, isFull: true });
    // Better than `away`, but `away` is not in line: it takes the place of the worst in line.
    const better = item(0);
    queue.offer(better);
    expect(other.state).toBe('blocked');
    expect(seqs(queue.queuedItems())).toEqual([better.seq]);
    // The answer came: the place is free, and kept free for a requeue (nothing is let in yet).
    queue.releasePlace();
    expect(sizes(queue)).toEqual({ queued: 1, blocked: 1, waiting: 2, isFull: false });
  });

  it('a refused item goes back in its place, unless a better one was blocked meanwhile: they swap', () => {
    const { queue, item } = setUp(2, 'block');
    const refused = item(5);
    queue.offer(refused);
    queue.offer(item(1));
    queue.holdPlace(refused);
    const better = item(3);
    const worse = item(9);
    queue.offer(better);
    queue.offer(worse);
    expect(seqs(queue.blockedItems())).toEqual([better.seq, worse.seq]);
    queue.releasePlace();
    queue.requeue(refused);
    expect(better.state).toBe('queued');
    expect(refused.state).toBe('blocked');
    expect(sizes(queue)).toEqual({ queued: 2, blocked: 2, waiting: 4, isFull: true });
    expect(drain(queue)).toEqual([1, better.seq, refused.seq, worse.seq]);
  });

  it('a refused item better than every blocked one goes back in line, ahead of newer equals', () => {
    const { queue, item } = setUp(2, 'block');
    const refused = item(4);
    queue.offer(refused);
    queue.offer(item(4));
    queue.holdPlace(refused);
    const blocked = item(4);
    queue.offer(blocked);
    expect(blocked.state).toBe('blocked');
    queue.releasePlace();
    queue.requeue(refused);
    expect(refused.state).toBe('queued');
    expect(queue.first).toBe(refused);
    expect(sizes(queue)).toEqual({ queued: 2, blocked: 1, waiting: 3, isFull: true });
    expect(drain(queue)).toEqual([0, 1, 2]);
  });

  it('removing frees a place in line for the best blocked item; removing a blocked one frees none', () => {
    const { queue, item } = setUp(2, 'block');
    const [a, b, c, d] = [item(0), item(1), item(2), item(3)];
    for (const each of [a, b, c, d]) queue.offer(each);
    queue.remove(d);
    expect(sizes(queue)).toEqual({ queued: 2, blocked: 1, waiting: 3, isFull: true });
    queue.remove(a);
    expect(c.state).toBe('queued');
    expect(sizes(queue)).toEqual({ queued: 2, blocked: 0, waiting: 2, isFull: true });
  });

  it('removing the item out for its answer frees its place, before or after the answer came', () => {
    const { queue, item } = setUp(1, 'block');
    const away = item(0);
    const blocked = item(0);
    queue.offer(away);
    queue.holdPlace(away);
    queue.offer(blocked);
    expect(blocked.state).toBe('blocked');
    queue.remove(away);
    expect(blocked.state).toBe('queued');
    expect(sizes(queue)).toEqual({ queued: 1, blocked: 0, waiting: 1, isFull: true });

    // After the answer (a store that failed the task): the place was released, nothing let in yet.
    const later = item(0);
    queue.offer(later);
    queue.holdPlace(blocked);
    queue.releasePlace();
    expect(later.state).toBe('blocked');
    queue.remove(blocked);
    expect(later.state).toBe('queued');
    expect(sizes(queue)).toEqual({ queued: 1, blocked: 0, waiting: 1, isFull: true });
  });

  it('clear() returns the blocked items, then those in line, each in the order they entered', () => {
    const { queue, item } = setUp(2, 'block');
    const items = [item(3), item(1), item(0), item(2), item(9)];
    for (const each of items) queue.offer(each);
    const cleared = queue.clear();
    expect(seqs(cleared)).toEqual([0, 3, 4, 1, 2]);
    expect(sizes(queue)).toEqual({ queued: 0, blocked: 0, waiting: 0, isFull: false });
    // Their states are left: removing one afterwards lets nothing in and changes no count.
    for (const each of cleared) queue.remove(each);
    expect(sizes(queue)).toEqual({ queued: 0, blocked: 0, waiting: 0, isFull: false });
  });

  it("'block' under random offers, starts, removals and refusals keeps the bound and strict order", () => {
    type Op = { kind: 'offer'; priority: number } | { kind: 'start' } | { kind: 'remove'; pick: number } | { kind: 'refuse' };
    const op = fc.oneof(
      fc.record({ kind: fc.constant('offer' as const), priority: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ kind: fc.constant('start' as const) }),
      fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('refuse' as const) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(op, { maxLength: 60 }), (maxSize, ops: Op[]) => {
        const { queue, item } = setUp(maxSize, 'block');
        /** Every item waiting, the one out for its answer included. */
        const model: Item[] = [];
        const best = () => model.slice().sort((x, y) => x.priority - y.priority || x.seq - y.seq);
        for (const step of ops) {
          if (step.kind === 'offer') {
            const each = item(step.priority);
            queue.offer(each);
            model.push(each);
          } else if (step.kind === 'start') {
            const first = queue.first;
            const expected = best().find((each) => each.state === 'queued');
            expect(first).toBe(expected);
            if (first === undefined) continue;
            queue.take(first);
            first.state = 'running';
            model.splice(model.indexOf(first), 1);
          } else if (step.kind === 'remove') {
            if (model.length === 0) continue;
            const each = model[step.pick % model.length]!;
            queue.remove(each);
            each.state = 'done';
            model.splice(model.indexOf(each), 1);
          } else {
            // One out for its answer at a time: the first in line steps out, or the one out is refused.
            const away = model.find((each) => each.state === 'acquiring');
            if (away === undefined) {
              if (queue.first !== undefined) queue.holdPlace(queue.first);
            } else {
              queue.releasePlace();
              queue.requeue(away);
              queue.admitBlocked();
            }
          }
          const inLine = model.filter((each) => each.state !== 'blocked');
          const blocked = model.filter((each) => each.state === 'blocked');
          expect(sizes(queue)).toEqual({
            queued: inLine.length,
            blocked: blocked.length,
            waiting: model.length,
            isFull: inLine.length >= maxSize,
          });
          expect(inLine.length).toBeLessThanOrEqual(maxSize);
          if (blocked.length > 0) expect(inLine.length).toBe(maxSize);
          // The bound limits how many wait in line, not who goes first. (The one out for its answer is
          // aside: a better item may be blocked meanwhile, and they swap if it is refused.)
          const queued = best().filter((each) => each.state === 'queued');
          const notAway = best().filter((each) => each.state !== 'acquiring');
          expect(notAway.slice(0, queued.length)).toEqual(queued);
        }
        if (model.some((each) => each.state === 'acquiring')) {
          const away = model.find((each) => each.state === 'acquiring')!;
          queue.releasePlace();
          queue.requeue(away);
          queue.admitBlocked();
        }
        expect(drain(queue)).toEqual(best().map((each) => each.seq));
      }),
      { numRuns: 500 },
    );
  });
});
