import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FairQueue, type Fairness, type LaneGroup } from '../../../src/queue/fair-queue.js';
import { QueueItem } from './queue-item.js';

class Item extends QueueItem<Item> {}

function drain(queue: FairQueue<Item>): number[] {
  const seqs: number[] = [];
  for (let item = queue.shift(); item !== undefined; item = queue.shift()) seqs.push(item.seq);
  return seqs;
}

// With no keys, every fairness and a keyless queue serve in priority order, first in first out among equals.
describe.each([
  ['fair', true],
  ['fifo', true],
  ['fifo', false],
] as Array<[Fairness, boolean]>)('FairQueue (%s, keyed: %s) without keys: a priority queue', (fairness, keyed) => {
  class PriorityQueue extends FairQueue<Item> {
    constructor(id?: number) {
      super(fairness, keyed, id);
    }
  }

  it('serves lower priority numbers first and equal priorities first-in first-out', () => {
    const queue = new PriorityQueue();
    const priorities = [5, 0, 5, -1, 0, 5, 2.5];
    priorities.forEach((priority, seq) => queue.push(new Item(priority, seq)));
    expect(queue.size).toBe(7);
    expect(drain(queue)).toEqual([3, 1, 4, 6, 0, 2, 5]);
    expect(queue.size).toBe(0);
    expect(queue.peek()).toBeUndefined();
  });

  it('removes any item in the middle, and forgets a level once it is empty', () => {
    const queue = new PriorityQueue();
    const items = [new Item(1, 0), new Item(1, 1), new Item(1, 2), new Item(0, 3)];
    for (const item of items) queue.push(item);
    expect(queue.remove(items[1]!)).toBe(true);
    expect(queue.remove(items[1]!)).toBe(false);
    expect(queue.remove(items[3]!)).toBe(true);
    expect(queue.peek()).toBe(items[0]);
    expect(drain(queue)).toEqual([0, 2]);
    // A removed item can come back.
    queue.push(items[1]!);
    expect(queue.peek()).toBe(items[1]);
  });

  it('names the item that would run last (highest number, newest among equals) and the oldest', () => {
    const queue = new PriorityQueue();
    const items = [new Item(3, 0), new Item(7, 1), new Item(7, 2), new Item(1, 3)];
    for (const item of items) queue.push(item);
    expect(queue.last()).toBe(items[2]);
    expect(queue.oldest()).toBe(items[0]);
    queue.remove(items[2]!);
    expect(queue.last()).toBe(items[1]);
    queue.remove(items[0]!);
    expect(queue.oldest()).toBe(items[1]);
  });

  it('puts an item that comes back with an older seq (a retry) before newer items of its priority', () => {
    const queue = new PriorityQueue();
    for (const seq of [5, 6, 7]) queue.push(new Item(0, seq));
    queue.push(new Item(0, 2));
    queue.push(new Item(0, 6.5));
    expect(drain(queue)).toEqual([2, 5, 6, 6.5, 7]);
  });

  it('does not confuse items of two queues (of different ids) with the same priority', () => {
    const a = new PriorityQueue(1);
    const b = new PriorityQueue(2);
    const inA = new Item(0, 0);
    const inB = new Item(0, 1);
    a.push(inA);
    b.push(inB);
    expect(a.remove(inB)).toBe(false);
    expect(a.size).toBe(1);
    expect(b.has(inB)).toBe(true);
  });

  it('takes only the ids an item can hold, naming what was wrong', () => {
    expect(() => new PriorityQueue(0)).toThrow(/Expected a queue id from 1 to 3, got 0/);
    expect(() => new PriorityQueue(4)).toThrow(RangeError);
    expect(() => new PriorityQueue(1.5)).toThrow(RangeError);
  });

  it('clear() returns every item in the order it entered', () => {
    const queue = new PriorityQueue();
    [3, 1, 2].forEach((priority, seq) => queue.push(new Item(priority, seq)));
    expect(queue.clear().map((item) => item.seq)).toEqual([0, 1, 2]);
    expect(queue.size).toBe(0);
    expect(queue.last()).toBeUndefined();
    expect(queue.oldest()).toBeUndefined();
  });

  it('matches a sorted reference model under random pushes, shifts and removals', () => {
    const operation = fc.oneof(
      fc.record({ kind: fc.constant('push' as const), priority: fc.integer({ min: -3, max: 3 }) }),
      fc.record({ kind: fc.constant('shift' as const) }),
      fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 200 }), (operations) => {
        const queue = new PriorityQueue();
        let model: Item[] = [];
        let seq = 0;
        const order = (x: Item, y: Item) => x.priority - y.priority || x.seq - y.seq;
        for (const op of operations) {
          if (op.kind === 'push') {
            const item = new Item(op.priority, seq++);
            queue.push(item);
            model.push(item);
          } else if (op.kind === 'shift') {
            model.sort(order);
            expect(queue.shift()).toBe(model.shift());
          } else if (model.length > 0) {
            const victim = model[op.pick % model.length]!;
            expect(queue.remove(victim)).toBe(true);
            model = model.filter((item) => item !== victim);
          }
          expect(queue.size).toBe(model.length);
          const sorted = [...model].sort(order);
          expect(queue.peek()).toBe(sorted[0]);
          expect(queue.last()).toBe(sorted.at(-1));
          expect(queue.oldest()).toBe([...model].sort((x, y) => x.seq - y.seq)[0]);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('FairQueue with keys', () => {
  const group = (share = 1): LaneGroup<Item> => ({ lane: null, lanes: null, share, parked: false });

  it("'fair': keys take turns within a priority, a key's items first in first out, priorities strict", () => {
    const queue = new FairQueue<Item>('fair');
    const [a, b] = [group(), group()];
    let seq = 0;
    for (const owner of [a, a, a, b, b]) queue.push(new Item(1, seq++, owner));
    queue.push(new Item(0, seq++, b));
    expect(drain(queue)).toEqual([5, 0, 3, 1, 4, 2]);
  });

  it("'fair': a key of share 2 takes two starts a round; 'fifo' keeps arrival order", () => {
    // A group's lanes are its queue's: each queue gets groups of its own.
    const fill = (queue: FairQueue<Item>) => {
      const [gold, basic] = [group(2), group()];
      [basic, basic, basic, gold, gold, gold, gold].forEach((owner, seq) => queue.push(new Item(0, seq, owner)));
      return queue;
    };
    const fair = fill(new FairQueue<Item>('fair'));
    const fifo = fill(new FairQueue<Item>('fifo'));
    expect(drain(fair)).toEqual([0, 3, 4, 1, 5, 6, 2]);
    expect(drain(fifo)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it("a parked key's items are passed over, counted and visible to last() and oldest(), until it is unparked", () => {
    const queue = new FairQueue<Item>('fair');
    const [a, b] = [group(), group()];
    const items = [new Item(0, 0, a), new Item(0, 1, b), new Item(5, 2, a)];
    for (const item of items) queue.push(item);
    queue.park(a);
    expect(queue.peek()).toBe(items[1]);
    expect(queue.size).toBe(3);
    expect(queue.last()).toBe(items[2]);
    expect(queue.oldest()).toBe(items[0]);
    queue.take(items[1]!);
    expect(queue.peek()).toBeUndefined();
    queue.unpark(a);
    expect(drain(queue)).toEqual([0, 2]);
  });

  it('an item held out for a store answer and pushed back is first again, before keys that waited behind it', () => {
    const queue = new FairQueue<Item>('fair');
    const [a, b, c] = [group(), group(), group()];
    const items = [new Item(0, 0, a), new Item(0, 1, b), new Item(0, 2, c)];
    for (const item of items) queue.push(item);
    queue.hold(items[0]!);
    expect(queue.has(items[0]!)).toBe(false);
    queue.push(items[0]!);
    queue.unhold(items[0]!, false);
    expect(queue.peek()).toBe(items[0]);
    // Held and started: its key's turn is used.
    queue.hold(items[0]!);
    queue.unhold(items[0]!, true);
    expect(drain(queue)).toEqual([1, 2]);
  });

  it('matches a model of fair turns under random pushes, starts, removals, parks and unparks', () => {
    const operation = fc.oneof(
      fc.record({ kind: fc.constant('push' as const), key: fc.integer({ min: 0, max: 3 }), priority: fc.integer({ min: 0, max: 1 }) }),
      fc.record({ kind: fc.constant('take' as const) }),
      fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('park' as const), key: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ kind: fc.constant('unpark' as const), key: fc.integer({ min: 0, max: 3 }) }),
    );
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 150 }), (operations) => {
        const queue = new FairQueue<Item>('fair');
        const groups = [group(), group(), group(), group()];
        let model: Item[] = [];
        let seq = 0;
        for (const op of operations) {
          if (op.kind === 'push') {
            const item = new Item(op.priority, seq++, groups[op.key]);
            queue.push(item);
            model.push(item);
          } else if (op.kind === 'take') {
            const first = queue.peek();
            // The first is of the best priority any unparked key has, and the oldest of its key there.
            const open = model.filter((item) => !(item.tenant as LaneGroup<Item>).parked);
            if (open.length === 0) {
              expect(first).toBeUndefined();
              continue;
            }
            const best = Math.min(...open.map((item) => item.priority));
            expect(first?.priority).toBe(best);
            const mine = open.filter((item) => item.tenant === first?.tenant && item.priority === best);
            expect(first).toBe(mine.sort((x, y) => x.seq - y.seq)[0]);
            queue.take(first as Item);
            model = model.filter((item) => item !== first);
          } else if (op.kind === 'remove') {
            if (model.length === 0) continue;
            const victim = model[op.pick % model.length] as Item;
            expect(queue.remove(victim)).toBe(true);
            model = model.filter((item) => item !== victim);
          } else if (op.kind === 'park') {
            queue.park(groups[op.key] as LaneGroup<Item>);
          } else {
            queue.unpark(groups[op.key] as LaneGroup<Item>);
          }
          expect(queue.size).toBe(model.length);
          expect([...queue].sort((x, y) => x.seq - y.seq)).toEqual([...model].sort((x, y) => x.seq - y.seq));
          const worst = [...model].sort((x, y) => y.priority - x.priority || y.seq - x.seq)[0];
          expect(queue.last()).toBe(worst);
        }
      }),
      { numRuns: 300 },
    );
  });
});
