// Acting on what each response says of the server's limits: for the client, or for the key whose request heard it.
import type { MeterRefusal } from '../core/meter.js';
import { type HeaderReader, mentionsLimits, readServerLimits } from '../retry/rate-limit-headers.js';
import { DEFAULT_RETRY } from '../retry/retry-options.js';
import { applyServerLimits, type FeedbackTarget } from '../retry/server-feedback.js';
import type { HttpHooks, NormalizedHttpOptions } from './http-options.js';
import { displayUrl, displayUrlText } from './secrets.js';

/**
 * Reads every response's rate-limit headers (when `adaptive`) and tells the client what they mean: a
 * cooldown, a remaining budget, tightened windows, or, for a bare refusal, a cooldown and a learned
 * pace. What a keyed request heard holds for its key only. Each entry point (`request()`,
 * `client.fetch`, the interceptor's meter) calls it at the response headers.
 */
export class ServerListener {
  readonly #options: NormalizedHttpOptions;
  readonly #hooks: HttpHooks;

  constructor(options: NormalizedHttpOptions, hooks: HttpHooks) {
    this.#options = options;
    this.#hooks = hooks;
  }

  /**
   * When adaptive, acts on what a response says about the server's limits. (A refused request's own
   * retry wait is read apart, by the HTTP layer: it does not depend on `adaptive`.) `refusal`: what the
   * meter read in a refusal's body; its cooldown holds only the currencies it names, or none. Returns
   * true for a bare refusal (one that says nothing of the limits), which the client learns from.
   */
  listen(headers: HeaderReader, status: number, url: URL | string, weight: number, refusal?: MeterRefusal, key?: string): boolean {
    this.#hooks.heard(status);
    const adaptive = this.#options.adaptive;
    if (!adaptive) return false;
    // Any answer that is not a refusal is a success for what bare refusals taught (headers or not).
    if (status < 400) this.#hooks.learnFromSuccess(key);
    // Most responses say nothing about limits: then there is nothing to read or apply (and no URL to
    // format), but a refusal that says nothing is news too (a server such as nginx), and a success after it.
    const mentioned = mentionsLimits(headers);
    const limits = mentioned ? readServerLimits(headers, Date.now(), adaptive.resetMode, adaptive.resource) : undefined;
    if (limits === undefined || limits.sources.length === 0) {
      // Bare: no header about any quota (one about another resource's, GitHub's search, is not news of ours).
      const bare =
        (status === 429 || status === 503) &&
        refusal?.fatal === undefined &&
        refusal?.counts === undefined &&
        (!mentioned || readServerLimits(headers, Date.now(), adaptive.resetMode, null).sources.length === 0);
      if (bare) {
        this.#learnFromRefusal(status, url, key);
        return true;
      }
      return false;
    }
    applyServerLimits(this.#targetFor(key, refusal), limits, {
      status,
      url: typeof url === 'string' ? displayUrlText(url) : displayUrl(url),
      weight,
      maxWaitMs: (this.#options.retry || DEFAULT_RETRY).maxRetryAfterMs,
    });
    return false;
  }

  /** A bare refusal: every start (of `key`, with one) cools down, and the client paces itself at a rate it learns. */
  #learnFromRefusal(status: number, url: URL | string, key: string | undefined): void {
    const maxWaitMs = (this.#options.retry || DEFAULT_RETRY).maxRetryAfterMs;
    const waitMs = this.#hooks.learnFromRefusal(maxWaitMs, key);
    if (waitMs === undefined) return;
    this.#hooks.rateLimited({
      reason: 'refused',
      waitMs,
      status,
      url: typeof url === 'string' ? displayUrlText(url) : displayUrl(url),
      sources: [],
      ...(key === undefined ? {} : { key }),
    });
  }

  /**
   * What a server's word acts on: the client, or with `key` that key. After a refusal whose body the
   * meter read, its cooldown holds only what the refusal was for (nothing, when waiting can not help).
   */
  #targetFor(key: string | undefined, refusal: MeterRefusal | undefined): FeedbackTarget {
    const hooks = this.#hooks;
    let held: readonly string[] | undefined;
    if (refusal !== undefined) {
      const currencies = hooks.currencies();
      const named = (refusal.counts ?? []).filter((currency) => currencies.has(currency));
      held = named.length === 0 ? ['requests'] : named;
    }
    return {
      coolDown: (ms, currency) => {
        if (held === undefined) hooks.coolDown(ms, currency, key);
        else if (refusal?.fatal === undefined) for (const one of held) hooks.coolDown(ms, one, key);
      },
      setServerBudget: (remaining, resetMs, carried, currency, refill) =>
        hooks.setServerBudget(remaining, resetMs, carried, currency, refill, key),
      windows: () => hooks.windows(key),
      setWindows: (windows) => hooks.setWindows(windows, key),
      // A fatal refusal starts no wait: an event announcing one would mislead.
      rateLimited: (event) => {
        if (refusal?.fatal === undefined || event.reason === 'policy') hooks.rateLimited(key === undefined ? event : { ...event, key });
      },
    };
  }
}
