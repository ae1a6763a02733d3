/**
 * The loopback server for the benchmark's HTTP section, run in a process of its own (`fork`), so the
 * server's work does not share the measured process's event loop. Answers every request with a small
 * JSON body on a keep-alive connection and tells the parent its port over IPC.
 */
import { createServer } from 'node:http';

const body = Buffer.from('{"ok":true}');
const headers = { 'content-type': 'application/json', 'content-length': String(body.byteLength), connection: 'keep-alive' };

const server = createServer((request, response) => {
  // Drain whatever the request carried, then answer; GET carries nothing.
  request.resume();
  response.writeHead(request.method === 'GET' || request.method === 'HEAD' ? 200 : 405, headers);
  response.end(request.method === 'HEAD' ? undefined : body);
});
// Longer than the clients' keep-alive (4 s), so the server never closes a socket a client is about to reuse.
server.keepAliveTimeout = 10_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ port: typeof address === 'object' && address !== null ? address.port : 0 });
});
// The parent going away (even killed) ends this process too.
process.on('disconnect', () => process.exit(0));
