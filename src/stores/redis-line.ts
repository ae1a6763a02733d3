// LinePlace: this process's place in the line for the shared concurrency (see SLEEPERS), as far as it
// knows: whether others wait, and whether it joined the line with its last release.
import type { LineUp } from './redis-scripts.js';

/**
 * While processes wait in line for the shared concurrency, a process whose task ends would, asking
 * again at once, only be refused (the unit it freed goes to the head of the line) and join the back:
 * a wasted round trip per start. So when its last answer said others were in line, it joins the line
 * with the release itself, and waits, without asking, until a release wakes it by name. If the line
 * was empty after all, that release wakes it at once.
 */
export class LinePlace {
  /** The last answer said processes wait in line. */
  #contended = false;
  /** Joined with a release: until when (clock time) it waits for its wake without asking. */
  #until = -Infinity;
  /** The priority it joined with: a better one asks anyway (it may go ahead). */
  #priority = Infinity;

  /** An acquire's answer: how many processes wait in line now. */
  heard(line: number): void {
    this.#contended = line > 0;
  }

  /**
   * A task holding the shared concurrency ended, and `next` (the priority of the first task waiting
   * here, undefined for none) would ask next: join the line with the release when others wait in it.
   */
  join(clientId: string, next: number | undefined, now: number, lapseMs: number, holdMs: number): LineUp | undefined {
    if (!this.#contended || next === undefined || now < this.#until) return undefined;
    this.#until = now + lapseMs;
    this.#priority = next;
    return { clientId, priority: next, lapseMs, holdMs };
  }

  /**
   * Granted, and put at the back of the line by the same answer (see ACQUIRE): the next task waits for
   * its wake, as after joining with a release.
   */
  queued(priority: number, now: number, lapseMs: number): void {
    this.#until = now + lapseMs;
    this.#priority = priority;
  }

  /** How long a task of `priority` still waits for its wake without asking (<= 0: ask). */
  waitFor(priority: number, now: number): number {
    if (now >= this.#until) return 0;
    return priority < this.#priority ? 0 : this.#until - now;
  }

  /** Woken, or anything else that may have freed room (or lost the line): ask again. */
  leave(): void {
    this.#until = -Infinity;
    this.#priority = Infinity;
  }
}
