import { http, HttpResponse as MswResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpError, RateLimitedClient } from '../../src/index.js';
import { createMswDispatcher } from '../../src/testing/index.js';

// msw answers the default 'fetch' transport with no extra set-up: the client looks up the global
// fetch at every call, and msw's setupServer patches it. The 'undici' transport does not go through
// fetch, so msw can not see it; rate-limited-client/testing bridges the same handlers to it.
// No request leaves the process.
const server = setupServer(
  http.get('https://api.example.com/users/:id', ({ params, request }) =>
    MswResponse.json({ id: params.id, auth: request.headers.get('authorization') }),
  ),
  http.post('https://api.example.com/users', async ({ request }) => MswResponse.json(await request.json(), { status: 201 })),
);

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

describe("msw and the 'fetch' transport", () => {
  it('answers client.get, client.post and client.fetch', async () => {
    const client = new RateLimitedClient({ baseUrl: 'https://api.example.com', headers: { authorization: 'Bearer t' } });
    expect(await (await client.get('/users/7')).json()).toEqual({ id: '7', auth: 'Bearer t' });
    const created = await client.post('/users', { json: { name: 'Ada' } });
    expect(created.status).toBe(201);
    expect(await created.json()).toEqual({ name: 'Ada' });
    expect(await (await client.fetch('https://api.example.com/users/8')).json()).toMatchObject({ id: '8' });
    await client.close();
  });

  it('sees handlers added with server.use()', async () => {
    server.use(http.get('https://api.example.com/users/:id', () => new MswResponse('gone', { status: 410 })));
    const client = new RateLimitedClient({ baseUrl: 'https://api.example.com' });
    await expect(client.get('/users/1')).rejects.toBeInstanceOf(HttpError);
    await client.close();
  });
});

describe("msw and the 'undici' transport, through rate-limited-client/testing", () => {
  it('answers from the same server and its overrides, under the same limits', async () => {
    const client = new RateLimitedClient({
      baseUrl: 'https://api.example.com',
      transport: 'undici',
      dispatcher: createMswDispatcher(server),
      rateLimit: { limit: 2, windowMs: 50 },
    });
    expect(await (await client.get('/users/9')).json()).toEqual({ id: '9', auth: null });
    const created = await client.post('/users', { json: { name: 'Grace' } });
    expect(created.status).toBe(201);
    server.use(http.get('https://api.example.com/users/:id', () => new MswResponse('gone', { status: 410 })));
    const error = await client.get('/users/1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpError);
    expect(error).toMatchObject({ status: 410, bodyPreview: 'gone' });
    expect(client.stats()).toMatchObject({ completed: 2, failed: 1 });
    await client.close();
  });
});
