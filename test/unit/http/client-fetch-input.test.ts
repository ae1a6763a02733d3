// Review 3 (HEAD~4 src): client.fetch's input checks before queueing.
import { describe, expect, it } from 'vitest';
import { RateLimitedClient } from '../../../src/index.js';

const SECRET = 'Bearer s3cr3t-token';

// src/http/client-fetch.ts:69-70 checks only arrays and plain objects with string values. fetch also
// takes any iterable of pairs (a Map) and stringifies non-string values; those skip the check: the
// request is queued and takes a window slot, and fetch's own TypeError shows the header value.
describe('client.fetch refuses a header value with CR/LF before queueing, in every HeadersInit form', () => {
  const forms: Array<[string, () => unknown]> = [
    ['a Map', () => new Map([['authorization', `${SECRET}\r\nx: y`]])],
    ['a value with toString()', () => ({ authorization: { toString: () => `${SECRET}\r\nx: y` } })],
  ];
  for (const [what, headers] of forms) {
    it(`${what}: refused, nothing queued, the value not shown`, async () => {
      const client = new RateLimitedClient({ rateLimit: { limit: 5, windowMs: 60_000 } });
      const error = (await client.fetch('http://127.0.0.1:9/x', { headers: headers() as NonNullable<RequestInit['headers']> }).then(
        () => undefined,
        (e: unknown) => e,
      )) as Error;
      const stats = client.stats();
      await client.close();
      expect({
        name: error.name,
        showsSecret: error.message.includes('s3cr3t'),
        submitted: stats.submitted,
        used: stats.windows[0]?.used,
      }).toEqual({ name: 'TypeError', showsSecret: false, submitted: 0, used: 0 });
    });
  }
});

describe('client.fetch refuses a URL fetch would refuse, or one with user:password, before queueing', () => {
  async function attempt(input: string | URL): Promise<{ error: unknown; submitted: number }> {
    const client = new RateLimitedClient({ dispatcher: { dispatch: () => false } as never });
    const error = await client.fetch(input).then(
      () => undefined,
      (e: unknown) => e,
    );
    const { submitted } = client.stats();
    await client.close({ drain: false });
    return { error, submitted };
  }

  it.each([
    ['a relative URL', '/x'],
    ['user:password in a string', 'http://alice:S3CRET@127.0.0.1:9/x'],
    ['a user alone', 'http://alice@127.0.0.1:9/x'],
    ['user:password in a URL', new URL('http://alice:S3CRET@127.0.0.1:9/x')],
  ])('%s: refused, nothing queued, no password shown', async (_what, input) => {
    const { error, submitted } = await attempt(input);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).not.toContain('S3CRET');
    expect(submitted).toBe(0);
  });

  it("an '@' in the path or query is no credential: the request is queued", async () => {
    const { submitted } = await attempt('http://127.0.0.1:9/users/@me?mail=a@b.c');
    expect(submitted).toBe(1);
  });
});
