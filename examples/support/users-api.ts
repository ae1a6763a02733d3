import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { maxInAnyWindow } from './window-count.js';

export interface User {
  id: number;
  name: string;
}

export interface UsersApi {
  /** Base URL, e.g. `http://127.0.0.1:54321`. */
  url: string;
  /** HTTP status answered to every request, in arrival order. */
  statuses(): number[];
  /** The most arrivals (served or not) in any half-open interval [t, t + windowMs). */
  maxInAnyWindow(windowMs: number): number;
  close(): Promise<void>;
}

/**
 * A tiny REST API for the quick start: `GET /users/:id` (404 for an unknown id) and `POST /users`
 * (201 with the new user). Like `mock-api.ts`, it counts a request when it arrives and answers 429
 * once `limit` requests were served in the last `windowMs`; unlike it, it has routes and errors.
 */
export async function startUsersApi({ limit, windowMs }: { limit: number; windowMs: number }): Promise<UsersApi> {
  const users = new Map<number, User>(
    ['Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Margaret', 'Ken', 'Frances', 'John'].map((name, i) => [i + 1, { id: i + 1, name }]),
  );
  const arrivals: number[] = [];
  const statuses: number[] = [];
  const served: number[] = [];

  const server = createServer(async (req, res) => {
    const now = performance.now();
    arrivals.push(now);
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      statuses.push(status);
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };

    // Same boundary rule as the client: a request exactly `windowMs` after another is allowed.
    const inWindow = served.filter((at) => at > now - windowMs);
    if (inWindow.length >= limit) {
      req.resume();
      const untilFree = (inWindow[0] as number) + windowMs - now;
      return reply(429, { error: 'rate limit exceeded' }, { 'retry-after': String(Math.max(1, Math.ceil(untilFree / 1000))) });
    }
    served.push(now);

    const [, resource, id] = (req.url ?? '/').split('/');
    if (resource !== 'users') return reply(404, { error: 'no such route' });
    if (req.method === 'POST' && id === undefined) {
      const { name } = JSON.parse(await readBody(req)) as { name: string };
      const user = { id: users.size + 1, name };
      users.set(user.id, user);
      return reply(201, user);
    }
    req.resume();
    const user = users.get(Number(id));
    return user === undefined ? reply(404, { error: `no user ${id}` }) : reply(200, user);
  });

  // Port 0: the OS picks a free port, so the example never collides with anything running.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    statuses: () => [...statuses],
    maxInAnyWindow: (span: number) => maxInAnyWindow([...arrivals], span),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // The client keeps sockets alive for reuse; without this, close() would wait for them to time out.
        server.closeAllConnections();
      }),
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += String(chunk);
  return body;
}
