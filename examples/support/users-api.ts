import { readJson, sendJson, startLocalServer } from './local-server.js';
import { ServerQuota } from './server-quota.js';
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
  const quota = new ServerQuota(limit, windowMs);

  const server = await startLocalServer(async (req, res, _inProgress, { at: now }) => {
    if (!quota.take(now)) {
      req.resume();
      const retryAfterS = Math.max(1, Math.ceil(quota.untilFree(now) / 1000));
      return sendJson(res, 429, { 'retry-after': String(retryAfterS) }, { error: 'rate limit exceeded' });
    }
    const [, resource, id] = (req.url ?? '/').split('/');
    if (resource !== 'users') return sendJson(res, 404, {}, { error: 'no such route' });
    if (req.method === 'POST' && id === undefined) {
      const { name } = (await readJson(req)) as { name: string };
      const user = { id: users.size + 1, name };
      users.set(user.id, user);
      return sendJson(res, 201, {}, user);
    }
    req.resume();
    const user = users.get(Number(id));
    return user === undefined ? sendJson(res, 404, {}, { error: `no user ${id}` }) : sendJson(res, 200, {}, user);
  });

  return {
    url: server.url,
    statuses: () => server.arrivals.map((arrival) => arrival.status),
    maxInAnyWindow: (span: number) =>
      maxInAnyWindow(
        server.arrivals.map((arrival) => arrival.at),
        span,
      ),
    close: () => server.close(),
  };
}
