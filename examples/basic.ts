/**
 * The quick start, runnable: `npx tsx examples/basic.ts`.
 *
 * A client with a quota of 5 requests per 500 ms talks to a local users API that enforces the same
 * quota (and answers 429 beyond it). Ten requests go out at once; the client spaces them so the API
 * never refuses one. A 404 shows both ways of handling an `HttpError`. Exits with code 1 if the API
 * ever saw more than 5 requests in a window.
 */
import { HttpError, RateLimitedClient } from 'rate-limited-client';
import { startUsersApi, type User } from './support/users-api.js';

const LIMIT = 5;
const WINDOW_MS = 500;

const api = await startUsersApi({ limit: LIMIT, windowMs: WINDOW_MS });
const client = new RateLimitedClient({
  baseUrl: api.url,
  concurrency: 2,
  rateLimit: { limit: LIMIT, windowMs: WINDOW_MS },
});

const created = await (await client.post('/users', { json: { name: 'Ada' } })).json<User>();
console.log(`created user ${created.id}: ${created.name}`);

// Ten at once: the client queues them and starts each as soon as the quota has room.
const started = performance.now();
const ids = [1, 2, 3, 4, 5, 6, 7, 8, 9, created.id];
const users = await Promise.all(ids.map(async (id) => (await client.get(`/users/${id}`)).json<User>()));
console.log(`fetched ${users.length} users in ${Math.round(performance.now() - started)} ms: ${users.map((user) => user.name).join(', ')}`);

// A status outside 200-299 rejects with HttpError...
try {
  await client.get('/users/999');
} catch (error) {
  if (!(error instanceof HttpError)) throw error;
  console.log(`caught HttpError: ${error.status} ${error.bodyPreview}`);
}
// ...unless you would rather look at the status yourself.
const missing = await client.get('/users/999', { throwHttpErrors: false });
console.log(`throwHttpErrors: false: status ${missing.status}, ok ${missing.ok}`);

console.log('client.stats():', client.stats());
await client.close(); // waits for anything still queued or in flight, then closes the connections
await api.close();

const refused = api.statuses().filter((status) => status === 429).length;
const busiest = api.maxInAnyWindow(WINDOW_MS);
const ok = refused === 0 && busiest <= LIMIT;
console.log(`${ok ? 'OK' : 'FAILED'}: ${refused} requests refused with 429, busiest ${WINDOW_MS} ms window ${busiest}/${LIMIT}`);
// exitCode rather than process.exit(): the process ending by itself shows nothing was left open.
process.exitCode = ok ? 0 : 1;
