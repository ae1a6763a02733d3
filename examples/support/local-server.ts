import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

/** One request as the server saw it. */
export interface Arrival {
  /** `performance.now()` when the request arrived: the moment a real API counts it. */
  at: number;
  method: string;
  path: string;
  /** The status answered; 0 until the answer is sent. */
  status: number;
}

export interface LocalServer {
  /** Base URL, e.g. `http://127.0.0.1:54321`. */
  url: string;
  /** Every request in arrival order, refused ones included. */
  arrivals: readonly Arrival[];
  /** The most requests the server was answering at once. */
  mostInProgress(): number;
  close(): Promise<void>;
}

/**
 * `handle` answers the request; `inProgress` is how many requests (this one included) the server is
 * answering now, for APIs that limit concurrency; `arrival` is this request's record (its `at` is the
 * moment a quota should count it).
 */
export type Handler = (req: IncomingMessage, res: ServerResponse, inProgress: number, arrival: Arrival) => void | Promise<void>;

/**
 * A `node:http` server on 127.0.0.1 and a free port that records every arrival, for the mocks of real
 * APIs the examples run against.
 */
export async function startLocalServer(handle: Handler): Promise<LocalServer> {
  const arrivals: Arrival[] = [];
  let inProgress = 0;
  let most = 0;
  const server = createServer((req, res) => {
    // Timestamp first: anything done before it would shift the arrival later and hide bursts.
    const arrival: Arrival = { at: performance.now(), method: req.method ?? 'GET', path: req.url ?? '/', status: 0 };
    arrivals.push(arrival);
    most = Math.max(most, ++inProgress);
    // 'close' fires for an answered request and for one the client gave up on alike.
    res.once('close', () => {
      inProgress--;
      if (res.headersSent) arrival.status = res.statusCode;
    });
    // A request the client aborts mid-body makes reading it throw: drop the connection, not the process.
    (async () => handle(req, res, inProgress, arrival))().catch(() => res.destroy());
  });
  // Port 0: the OS picks a free port, so an example never collides with anything running.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    arrivals,
    mostInProgress: () => most,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // fetch keeps sockets alive for reuse; without this, close() would wait for them to time out.
        server.closeAllConnections();
      }),
  };
}

export function sendJson(res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}

/** The request body parsed as JSON; `undefined` when it is empty or not JSON. */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    return undefined;
  }
}
