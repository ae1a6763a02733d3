import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PriorityQueue, type QueueEntry } from '../../../src/queue/priority-queue.js';
import { QueueItem } from './queue-item.js';

class Item extends QueueItem<Item> implements QueueEntry<Item> {}

function drain(queue: PriorityQueue<Item>): number[] {
  const seqs: number[] = [];
  for (let item = queue.shift(); item !== undefined; item = queue.shift()) seqs.push(item.seq);
  return seqs;
}

describe('PriorityQueue', () => {
  it('serves lower priority numbers first and equal priorities first-in first-out', () => {
    const queue = new PriorityQueue<Item>();
    const priorities = [5, 0, 5, -1, 0, 5, 2.5];
    priorities.forEach((priority, seq) => queue.push(new Item(priority, seq)));
    expect(queue.size).toBe(7);
    expect(drain(queue)).toEqual([3, 1, 4, 6, 0, 2, 5]);
    expect(queue.size).toBe(0);
    expect(queue.peek()).toBeUndefined();
  });

  it('removes any item in the middle, and forgets a level once it is empty', () => {
    const queue = new PriorityQueue<Item>();
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
    const queue = new PriorityQueue<Item>();
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
    const queue = new PriorityQueue<Item>();
    for (const seq of [5, 6, 7]) queue.push(new Item(0, seq));
    queue.push(new Item(0, 2));
    queue.push(new Item(0, 6.5));
    expect(drain(queue)).toEqual([2, 5, 6, 6.5, 7]);
  });

  it('does not confuse items of two queues with the same priority', () => {
    const a = new PriorityQueue<Item>();
    const b = new PriorityQueue<Item>();
    const inA = new Item(0, 0);
    const inB = new Item(0, 1);
    a.push(inA);
    b.push(inB);
    expect(a.remove(inB)).toBe(false);
    expect(a.size).toBe(1);
    expect(b.has(inB)).toBe(true);
  });

  it('clear() returns every item in the order it entered', () => {
    const queue = new PriorityQueue<Item>();
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
        const queue = new PriorityQueue<Item>();
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
