/**
 * What the HTTP sections share: the loopback server in a process of its own, and the connections and
 * clients each case gets, made alike and closed together.
 *
 * Every case gets its own `new Agent({ keepAliveTimeout: 4_000 })` from the `undici` package, which is
 * exactly the Agent our client makes for itself when given no `dispatcher`: no cap on connections per
 * origin, so each case keeps as many keep-alive sockets as it has requests in flight. The raw and peer
 * cases pass theirs explicitly (`dispatcher:`); our clients make their own.
 */
import { fork } from 'node:child_process';
import { Agent } from 'undici';
import { RateLimitedClient, type RateLimitedClientOptions } from '../../src/index.js';

/** Starts the server process and resolves with its port; rejects if it dies or says nothing. */
export function startServer(): { port: Promise<number>; stop: () => void } {
  const child = fork(new URL('../support/http-server.mjs', import.meta.url), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const port = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('The HTTP benchmark server did not start within 10 s')), 10_000);
    child.once('message', (message) => {
      clearTimeout(timer);
      const { port } = message as { port: number };
      if (port > 0) resolve(port);
      else reject(new Error('The HTTP benchmark server did not report its port'));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`The HTTP benchmark server exited (code ${String(code)}) before it reported its port`));
    });
  });
  return { port, stop: () => void child.kill() };
}

/** Agents and clients made for a section's cases, all closed by `close()`. */
export class Connections {
  readonly #agents: Agent[] = [];
  readonly #clients: RateLimitedClient[] = [];

  /** A keep-alive Agent with the settings our client uses for its own. */
  agent(): Agent {
    const made = new Agent({ keepAliveTimeout: 4_000 });
    this.#agents.push(made);
    return made;
  }

  /**
   * A client with no rate limit and retries off (so a never expected failure shows as one): only its
   * layers cost.
   */
  client(options: RateLimitedClientOptions): RateLimitedClient {
    const made = new RateLimitedClient({ retry: false, ...options });
    this.#clients.push(made);
    return made;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#clients.map((each) => each.close()), ...this.#agents.map((each) => each.close())]);
  }
}

/** `dispatcher` is undici's extension of RequestInit; Node's own types name an older undici's. */
export const fetchInit = (dispatcher: Agent): RequestInit => ({ dispatcher }) as unknown as RequestInit;
