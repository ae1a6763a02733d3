/**
 * The cases of the latency section, one request at a time: each raw call beside our ways of making
 * the same one, each on a keep-alive Agent of its own with the same settings. Shared by the section
 * and by the child process that counts allocations (bench/support/alloc-child.ts), so both measure
 * exactly the same calls.
 */
import { request } from 'undici';
import { rateLimit } from '../../src/index.js';
import { type Connections, fetchInit } from './loopback.js';

export const RAW_UNDICI = 'raw undici.request';
export const RAW_FETCH = 'raw fetch';
/** The case the added-latency target is about. */
export const OURS_UNDICI = "client.get(), 'undici'";

export interface SequentialCase {
  readonly name: string;
  /** The raw case it is compared with; none for a raw case. */
  readonly against: string | undefined;
  /**
   * True when the caller's first await returns only once the body has been read (our buffered
   * responses, and a `schedule()` task that reads it); false when it returns at the headers, with the
   * body still to read.
   */
  readonly resumesAfterBody: boolean;
  /** One request, its JSON body parsed; calls `resumed()` as the caller's first await returns. */
  readonly one: (resumed: () => void) => Promise<unknown>;
}

/** Each case's client and Agent are made with `connections`, which closes them. */
export function sequentialCases(port: number, connections: Connections): SequentialCase[] {
  const origin = `http://127.0.0.1:${port}`;
  const url = `${origin}/item`;
  const rawUndici = connections.agent();
  const rawFetch = connections.agent();
  const scheduled = connections.agent();
  const scheduler = connections.client({ concurrency: 1 });
  const viaUndici = connections.client({ baseUrl: origin, transport: 'undici', concurrency: 1 });
  const intercepted = connections.agent().compose(rateLimit(connections.client({ concurrency: 1 })));
  const viaFetch = connections.client({ baseUrl: origin, transport: 'fetch', concurrency: 1 });
  const viaClientFetch = connections.client({ concurrency: 1 });
  const rawInit = fetchInit(rawFetch);
  return [
    {
      name: RAW_UNDICI,
      against: undefined,
      resumesAfterBody: false,
      one: async (resumed) => {
        const response = await request(url, { dispatcher: rawUndici });
        resumed();
        return response.body.json();
      },
    },
    {
      name: 'schedule() + undici.request',
      against: RAW_UNDICI,
      resumesAfterBody: true,
      one: async (resumed) => {
        const body = await scheduler.schedule(async () => (await request(url, { dispatcher: scheduled })).body.json());
        resumed();
        return body;
      },
    },
    {
      name: OURS_UNDICI,
      against: RAW_UNDICI,
      resumesAfterBody: true,
      one: async (resumed) => {
        const response = await viaUndici.get('/item');
        resumed();
        return response.json();
      },
    },
    {
      // Against raw undici.request, which is the same call on the bare Agent.
      name: 'interceptor',
      against: RAW_UNDICI,
      resumesAfterBody: false,
      one: async (resumed) => {
        const response = await request(url, { dispatcher: intercepted });
        resumed();
        return response.body.json();
      },
    },
    {
      name: RAW_FETCH,
      against: undefined,
      resumesAfterBody: false,
      one: async (resumed) => {
        const response = await fetch(url, rawInit);
        resumed();
        return response.json();
      },
    },
    {
      name: "client.get(), 'fetch'",
      against: RAW_FETCH,
      resumesAfterBody: true,
      one: async (resumed) => {
        const response = await viaFetch.get('/item');
        resumed();
        return response.json();
      },
    },
    {
      name: 'client.fetch',
      against: RAW_FETCH,
      resumesAfterBody: false,
      one: async (resumed) => {
        const response = await viaClientFetch.fetch(url);
        resumed();
        return response.json();
      },
    },
  ];
}
