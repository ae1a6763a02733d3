/**
 * The token benchmark's LLM servers, in a process of their own (`fork` with tsx), so their buckets keep
 * time on an event loop the measured clients do not share. Starts one independent OpenAI mock
 * (examples/support/mock-openai.ts) per contender, so contenders can run side by side without sharing
 * a quota, and answers the parent's questions over IPC:
 *
 *   → { type: 'start', count, options }   ← { type: 'started', urls }
 *   → { type: 'stats' }                   ← { type: 'stats', stats }   (one entry per server, in order)
 */
import { startOpenAIMock, type OpenAIMock, type OpenAIMockOptions } from '../../examples/support/mock-openai.js';

export type ParentMessage = { type: 'start'; count: number; options: OpenAIMockOptions } | { type: 'stats' };
export type ChildMessage =
  | { type: 'started'; urls: string[] }
  | { type: 'stats'; stats: Array<ReturnType<OpenAIMock['stats']>> }
  | { type: 'error'; message: string };

const servers: OpenAIMock[] = [];
const send = (message: ChildMessage) => process.send?.(message);

process.on('message', (message: ParentMessage) => {
  if (message.type === 'start') {
    Promise.all(Array.from({ length: message.count }, () => startOpenAIMock(message.options)))
      .then((started) => {
        servers.push(...started);
        send({ type: 'started', urls: started.map((server) => server.url) });
      })
      .catch((error: unknown) => send({ type: 'error', message: String(error) }));
  } else {
    send({ type: 'stats', stats: servers.map((server) => server.stats()) });
  }
});
// The parent going away (even killed) ends this process too.
process.on('disconnect', () => {
  void Promise.allSettled(servers.map((server) => server.close())).then(() => process.exit(0));
});
