/**
 * Servers limited by the two most used Node rate limiters, as their users configure them: express 5
 * with express-rate-limit 8, and fastify 5 with @fastify/rate-limit 11, each allowing 20 requests a
 * second (fixed windows of 1 000 ms, per client IP, in memory) and sending its rate-limit headers.
 * Each counts for itself what arrived and what it refused, ahead of the limiter: the server's own
 * record, not the client's. On 127.0.0.1, port 0.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { rateLimit } from 'express-rate-limit';
import Fastify from 'fastify';
import fastifyRateLimit from '@fastify/rate-limit';

export const SERVER_LIMIT = { limit: 20, windowMs: 1_000 } as const;

/** One request as the server saw it. */
export interface ServerArrival {
  /** `performance.now()` in this process when the request reached the server, before the limiter. */
  readonly at: number;
  /** What the server answered: 200, or 429 from the limiter. */
  status: number;
}

export interface LimitedServer {
  readonly name: string;
  readonly url: string;
  /** Every request that reached the server, in order; a status is filled in when the answer is sent. */
  readonly arrivals: readonly ServerArrival[];
  /** Requests the limiter refused (429). */
  refusals(): number;
  close(): Promise<void>;
}

/**
 * express-rate-limit with the IETF headers (`standardHeaders`: draft-8 sends `RateLimit-Policy:
 * "20-in-1sec"; q=20; w=1` and `RateLimit: "20-in-1sec"; r=19; t=1`; draft-7 the combined
 * `RateLimit: limit=20, remaining=19, reset=1` and `RateLimit-Policy: 20;w=1`).
 */
export async function startExpressLimited(standardHeaders: 'draft-7' | 'draft-8' = 'draft-8'): Promise<LimitedServer> {
  const arrivals: ServerArrival[] = [];
  const app = express();
  app.use((_request, response, next) => {
    const arrival: ServerArrival = { at: performance.now(), status: 0 };
    arrivals.push(arrival);
    response.on('finish', () => (arrival.status = response.statusCode));
    next();
  });
  app.use(rateLimit({ windowMs: SERVER_LIMIT.windowMs, limit: SERVER_LIMIT.limit, standardHeaders, legacyHeaders: false }));
  app.get('/', (_request, response) => {
    response.type('text/plain').send('ok');
  });
  const server = await new Promise<Server>((resolve, reject) => {
    const listening = app.listen(0, '127.0.0.1', (error?: Error) => (error === undefined ? resolve(listening) : reject(error)));
  });
  const { port } = server.address() as AddressInfo;
  return {
    name: `express-rate-limit (${standardHeaders})`,
    url: `http://127.0.0.1:${port}`,
    arrivals,
    refusals: () => arrivals.filter((arrival) => arrival.status === 429).length,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        server.closeAllConnections();
      }),
  };
}

/**
 * @fastify/rate-limit with its defaults: `x-ratelimit-limit`, `x-ratelimit-remaining` and
 * `x-ratelimit-reset` (seconds until the window resets) on every answer, and `retry-after` on a 429.
 */
export async function startFastifyLimited(): Promise<LimitedServer> {
  const arrivals: ServerArrival[] = [];
  const app = Fastify();
  const seen = new WeakMap<object, ServerArrival>();
  // Added before the plugin, so it runs before the limiter's own onRequest hook.
  app.addHook('onRequest', async (request) => {
    const arrival: ServerArrival = { at: performance.now(), status: 0 };
    arrivals.push(arrival);
    seen.set(request, arrival);
  });
  app.addHook('onResponse', async (request, reply) => {
    const arrival = seen.get(request);
    if (arrival !== undefined) arrival.status = reply.statusCode;
  });
  await app.register(fastifyRateLimit, { max: SERVER_LIMIT.limit, timeWindow: SERVER_LIMIT.windowMs });
  app.get('/', async () => 'ok');
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return {
    name: '@fastify/rate-limit',
    url: `http://127.0.0.1:${port}`,
    arrivals,
    refusals: () => arrivals.filter((arrival) => arrival.status === 429).length,
    close: async () => {
      app.server.closeAllConnections();
      await app.close();
    },
  };
}
