/**
 * How to test YOUR code that uses a RateLimitedClient, with msw 2 and vitest: no network, no real
 * API, and the client's real queue, retries and limits in between.
 *
 *   npx vitest run examples/msw-testing.test.ts
 *
 * Both transports are covered, with the same msw handlers:
 * - `transport: 'fetch'` (the default) sends through the global `fetch`, which msw's `setupServer`
 *   (from 'msw/node') intercepts by itself once `server.listen()` ran;
 * - `transport: 'undici'` skips the fetch layer, so msw can not see it: give the client
 *   `dispatcher: createMswDispatcher(server)` from 'rate-limited-client/testing', which answers undici
 *   requests from the same server's handlers (`server.use()` overrides included).
 *
 * Tests about time (a Retry-After wait, the rate limit) run on vitest's fake timers, with the client's
 * `clock` option reading the faked `Date.now()`: the client's waits then last exactly as long as the
 * test advances the timers, so the assertions are exact, and a one-second Retry-After costs nothing.
 *
 * To adapt it: replace `GitHubRepoService` with your own code, keep one `setupServer` for the file
 * with the happy-path handlers, override them per test with `server.use()`, and build the client the
 * way your application does (only `clock` and, for the undici transport, `dispatcher` are test-only).
 */
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { HttpError, RateLimitedClient, type RateLimitedClientOptions } from 'rate-limited-client';
import { createMswDispatcher } from 'rate-limited-client/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

// --- The code under test: a small service of the user's, which takes a client.

interface Repo {
  fullName: string;
  stars: number;
  archived: boolean;
}

/** The service's own error: its callers need not know about HTTP or this library. */
class RepoNotFoundError extends Error {
  override name = 'RepoNotFoundError';
  constructor(owner: string, name: string, options?: ErrorOptions) {
    super(`Repository ${owner}/${name} does not exist`, options);
  }
}

class GitHubRepoService {
  readonly #client: RateLimitedClient;

  constructor(client: RateLimitedClient) {
    this.#client = client;
  }

  async getRepo(owner: string, name: string): Promise<Repo> {
    try {
      const response = await this.#client.get(`/repos/${owner}/${name}`);
      const body = await response.json<{ full_name: string; stargazers_count: number; archived: boolean }>();
      return { fullName: body.full_name, stars: body.stargazers_count, archived: body.archived };
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) throw new RepoNotFoundError(owner, name, { cause: error });
      throw error;
    }
  }
}

// --- The fake API.

const API = 'https://api.github.com';

/** Every request the fake API answered, with when (Date.now(), faked in the tests about time). */
const seen: Array<{ path: string; at: number; authorization: string | null }> = [];
function record(request: Request): void {
  seen.push({ path: new URL(request.url).pathname, at: Date.now(), authorization: request.headers.get('authorization') });
}

// The happy path for the whole file; a test that needs another answer overrides it with server.use().
const server = setupServer(
  http.get(`${API}/repos/:owner/:name`, ({ params, request }) => {
    record(request);
    return HttpResponse.json({ full_name: `${String(params.owner)}/${String(params.name)}`, stargazers_count: 42, archived: false });
  }),
);

// 'error': a request that no handler answers fails the test instead of reaching the real GitHub.
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => {
  server.resetHandlers();
  seen.length = 0;
  vi.useRealTimers();
});
afterAll(() => server.close());

// --- The tests, once per transport.

describe.each(['fetch', 'undici'] as const)("GitHubRepoService, client transport '%s'", (transport) => {
  const clients: RateLimitedClient[] = [];
  afterEach(async () => {
    // drain: false, so that a failed test's queued work, waiting on fake timers that nobody advances
    // any more, is rejected rather than waited for.
    await Promise.all(clients.map((client) => client.close({ drain: false })));
    clients.length = 0;
  });

  /** The client as the application builds it, on top of msw for this transport. */
  function createClient(options: Partial<RateLimitedClientOptions> = {}): RateLimitedClient {
    const client = new RateLimitedClient({
      baseUrl: API,
      headers: { authorization: 'Bearer test-token' },
      ...(transport === 'undici' ? { transport: 'undici', dispatcher: createMswDispatcher(server) } : {}),
      ...options,
    });
    clients.push(client);
    return client;
  }

  /**
   * Fake timers, and the clock for the client. `Date.now()` is a wall clock, which the client must not
   * use in production (it can jump); under fake timers it moves only when the test advances it.
   */
  function useFakeTime(): { clock: { now(): number }; start: number } {
    vi.useFakeTimers();
    return { clock: { now: () => Date.now() }, start: Date.now() };
  }

  it('parses the repository from the API answer', async () => {
    const service = new GitHubRepoService(createClient());

    await expect(service.getRepo('nodejs', 'undici')).resolves.toEqual({ fullName: 'nodejs/undici', stars: 42, archived: false });
    expect(seen).toEqual([{ path: '/repos/nodejs/undici', at: expect.any(Number), authorization: 'Bearer test-token' }]);
  });

  it("turns a 404 into the service's own RepoNotFoundError, with the HttpError as its cause", async () => {
    server.use(http.get(`${API}/repos/:owner/:name`, () => HttpResponse.json({ message: 'Not Found' }, { status: 404 })));
    const service = new GitHubRepoService(createClient());

    const error = await service.getRepo('nodejs', 'nope').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RepoNotFoundError);
    expect((error as RepoNotFoundError).message).toBe('Repository nodejs/nope does not exist');
    expect((error as RepoNotFoundError).cause).toBeInstanceOf(HttpError);
    expect((error as RepoNotFoundError).cause).toMatchObject({ status: 404, method: 'GET' });
  });

  it('succeeds after a 429 with Retry-After: 1, retried exactly one second later', async () => {
    const { clock, start } = useFakeTime();
    // The first request is refused as GitHub does it; the next one falls through to the happy path.
    server.use(
      http.get(
        `${API}/repos/:owner/:name`,
        ({ request }) => {
          record(request);
          return HttpResponse.json({ message: 'API rate limit exceeded' }, { status: 429, headers: { 'retry-after': '1' } });
        },
        { once: true },
      ),
    );
    const service = new GitHubRepoService(createClient({ clock }));

    const repo = service.getRepo('nodejs', 'node');
    await vi.advanceTimersByTimeAsync(999);
    expect(seen).toHaveLength(1); // still waiting: the server asked for a full second
    await vi.advanceTimersByTimeAsync(1);
    expect(seen.map((request) => request.at - start)).toEqual([0, 1_000]);
    await expect(repo).resolves.toMatchObject({ fullName: 'nodejs/node', stars: 42 });
  });

  it('never lets more than 2 requests per 200 ms reach the API, however many calls the code makes at once', async () => {
    const { clock, start } = useFakeTime();
    const service = new GitHubRepoService(createClient({ clock, rateLimit: { limit: 2, windowMs: 200 } }));

    const repos = Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((name) => service.getRepo('acme', name)));
    await vi.advanceTimersByTimeAsync(400);

    // Two at once, then two more each time a window has passed: the quota used, never exceeded.
    expect(seen.map((request) => request.at - start)).toEqual([0, 0, 200, 200, 400, 400]);
    await expect(repos).resolves.toHaveLength(6);
  });
});
