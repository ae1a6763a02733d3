/**
 * A local HTTP server whose routes each misbehave in one way, for the reliability tests. Everything
 * runs on 127.0.0.1, port 0; nothing needs the internet.
 *
 * Routes of the main origin (`url`):
 * - `/ok`: 200 `ok`. `/slow?ms=N`: 200 after N ms.
 * - `/reset`: the socket is destroyed as soon as the request arrives (a FIN, no response at all).
 * - `/rst`: the socket is reset (a TCP RST, `ECONNRESET` on the client).
 * - `/reset-body`: 200 and 1 KB of a promised 64 KB, then the socket is destroyed.
 * - `/hang`: never answers. `/stall-body`: 200 and a little body, then nothing, ever.
 * - `/status/:code`: always that status; `?retry-after=S` and `?retry-after-ms=MS` add those headers.
 * - `/malformed?status=N`: answers `N` (default 200) with garbage in every rate-limit header the client reads.
 * - `/huge?status=N&mb=M`: `N` (default 500) with an M MB body (default 20), written as fast as the
 *   client reads it; `hugeBodies` records how much was handed to the socket before it closed.
 * - `/redirect?status=N&to=PATH`: an `N` (default 302) to `other`'s PATH (default `/landing`).
 *   `/redirect-relative`: the same through a protocol-relative `//127.0.0.1:port/landing` Location.
 *   `/redirect-chain`: a same-origin 307 to `/redirect`, whose next hop leaves.
 * The second origin (`otherUrl`) answers 200 `elsewhere` and records the credential headers it got.
 * `refusedUrl` is a port that was bound and closed (connections are refused); `unresolvableUrl` names a
 * `.invalid` host, which never resolves (RFC 6761), so the failure is local and fast.
 */
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** The headers a server must never receive from another origin's credentials. */
export const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization', 'x-api-key'] as const;

export interface OtherOriginHit {
  readonly path: string;
  /** The credential headers that arrived (name → value); empty when none did. */
  readonly credentials: Readonly<Record<string, string>>;
}

export interface HugeBody {
  readonly status: number;
  /** Bytes the server handed to the socket before the connection closed. */
  readonly sent: number;
  /** Whether the whole body was written (the client read it all). */
  readonly complete: boolean;
}

export interface FaultServer {
  readonly url: string;
  readonly otherUrl: string;
  readonly refusedUrl: string;
  readonly unresolvableUrl: string;
  /** Requests that reached each path of the main origin (pathname → count). */
  readonly hits: Map<string, number>;
  /** Every request that reached the second origin. */
  readonly otherHits: OtherOriginHit[];
  /** Every huge body, once its connection closed. */
  readonly hugeBodies: HugeBody[];
  hitsOf(path: string): number;
  /** Forgets the recorded hits and bodies (between tests). */
  reset(): void;
  close(): Promise<void>;
}

const MB = 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

/**
 * Values that no reader of rate-limit headers may act on: each either fails to parse or is out of
 * range (negative, zero, a date that does not exist, more used than the size). Kept to names the
 * client reads, so that ignoring them is what is tested.
 */
export const MALFORMED_RATE_LIMIT_HEADERS: Readonly<Record<string, string>> = {
  'retry-after': 'soon, maybe',
  'retry-after-ms': '12abc',
  ratelimit: 'remaining=;;;reset==x, "default";r=-1;t=?',
  'ratelimit-policy': 'q=100;;w=, 0;w=0, 10;w=-5',
  'ratelimit-limit': '0',
  'ratelimit-remaining': '-5',
  'ratelimit-reset': 'tomorrow',
  'x-ratelimit-limit': '-10',
  'x-ratelimit-remaining': '5, 0',
  'x-ratelimit-reset': '1e12',
  'x-rate-limit-remaining': 'NaN',
  'x-rate-limit-reset': 'Wed, 31 Feb 2024 00:00:00 GMT',
  'x-ratelimit-remaining-requests': 'lots',
  'x-ratelimit-reset-requests': '6m0sx',
  'x-shopify-shop-api-call-limit': '50/40',
};

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A port that was free a moment ago: connections to it are refused. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await listen(probe);
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

function numberParam(url: URL, name: string, fallback: number): number {
  const value = url.searchParams.get(name);
  return value === null ? fallback : Number(value);
}

export async function startFaultServer(): Promise<FaultServer> {
  const hits = new Map<string, number>();
  const otherHits: OtherOriginHit[] = [];
  const hugeBodies: HugeBody[] = [];
  let otherUrl = '';
  let url = '';

  const other = createServer((req, res) => {
    const credentials: Record<string, string> = {};
    for (const name of CREDENTIAL_HEADERS) {
      const value = req.headers[name];
      if (value !== undefined) credentials[name] = String(value);
    }
    otherHits.push({ path: req.url ?? '', credentials });
    res.end('elsewhere');
  });

  const routes: Record<string, (req: IncomingMessage, res: ServerResponse, url: URL) => void> = {
    '/ok': (_req, res) => void res.end('ok'),
    '/slow': (_req, res, u) => void setTimeout(() => res.end('slow ok'), numberParam(u, 'ms', 20)),
    '/reset': (req) => void req.socket.destroy(),
    '/rst': (req) => void req.socket.resetAndDestroy(),
    '/reset-body': (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(64 * 1024) });
      res.write(CHUNK.subarray(0, 1024), () => req.socket.destroy());
    },
    '/hang': () => {},
    '/stall-body': (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
    },
    '/malformed': (_req, res, u) => {
      res.writeHead(numberParam(u, 'status', 200), MALFORMED_RATE_LIMIT_HEADERS as OutgoingHttpHeaders);
      res.end('malformed headers');
    },
    '/huge': (_req, res, u) => {
      const status = numberParam(u, 'status', 500);
      const total = numberParam(u, 'mb', 20) * MB;
      let sent = 0;
      res.on('close', () => hugeBodies.push({ status, sent, complete: res.writableFinished }));
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': String(total) });
      // Only as fast as the client reads: a client that stops reading holds the server back.
      const pump = () => {
        while (sent < total && !res.destroyed) {
          const chunk = CHUNK.subarray(0, Math.min(CHUNK.length, total - sent));
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        if (sent >= total) res.end();
      };
      pump();
    },
    '/redirect': (_req, res, u) => {
      const to = u.searchParams.get('to') ?? '/landing';
      res.writeHead(numberParam(u, 'status', 302), { location: `${otherUrl}${to}` }).end();
    },
    '/redirect-relative': (_req, res) => {
      res.writeHead(302, { location: `//${new URL(otherUrl).host}/landing` }).end();
    },
    '/redirect-chain': (_req, res) => void res.writeHead(307, { location: '/redirect?status=307' }).end(),
  };

  const main = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    hits.set(u.pathname, (hits.get(u.pathname) ?? 0) + 1);
    const status = /^\/status\/(\d{3})$/.exec(u.pathname);
    if (status !== null) {
      const headers: Record<string, string> = { 'content-type': 'text/plain' };
      for (const name of ['retry-after', 'retry-after-ms']) {
        const value = u.searchParams.get(name);
        if (value !== null) headers[name] = value;
      }
      res.writeHead(Number(status[1]), headers).end(`status ${status[1]}`);
      return;
    }
    const route = routes[u.pathname];
    if (route === undefined) return void res.writeHead(404).end('no such fault');
    // Drain any request body first, so that a reset is a reset and not a side effect of unread data.
    req.resume();
    route(req, res, u);
  });

  for (const server of [main, other]) {
    // A client that goes away mid-response is expected here; it must not crash the test process.
    server.on('clientError', (_error, socket: Socket) => socket.destroy());
    // Many short-lived connections at once, from one client with high concurrency.
    server.maxConnections = 4_096;
  }
  url = await listen(main);
  otherUrl = await listen(other);
  const refusedUrl = `http://127.0.0.1:${await closedPort()}`;

  return {
    url,
    otherUrl,
    refusedUrl,
    unresolvableUrl: 'http://nonexistent.invalid',
    hits,
    otherHits,
    hugeBodies,
    hitsOf: (path) => hits.get(path) ?? 0,
    reset() {
      hits.clear();
      otherHits.length = 0;
      hugeBodies.length = 0;
    },
    async close() {
      await Promise.all(
        [main, other].map((server) => {
          server.closeAllConnections();
          return new Promise((resolve) => server.close(resolve));
        }),
      );
    },
  };
}
