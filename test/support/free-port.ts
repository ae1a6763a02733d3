// A free TCP port on 127.0.0.1, for a server a test starts (redis-server, nginx).
import net from 'node:net';

/** Asks the OS for a free loopback port, then lets it go for the caller's server to take. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
