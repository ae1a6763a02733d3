import { describe, it } from 'vitest';
import { redisServerAvailable } from './redis-process.js';

export { type RedisAvailability, RedisServer, redisServerAvailable, startRedis } from './redis-process.js';

/**
 * `describe` for suites that need redis-server. Without it the suite is skipped, and the skip names
 * the reason; in CI (`CI=true`) a missing redis-server fails instead, so a green run means it ran.
 */
export function describeWithRedis(name: string, fn: () => void): void {
  const found = redisServerAvailable();
  if (found.ok) {
    describe(name, fn);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs redis-server', () => {
        throw new Error(`redis-server is required in CI; .ci/run installs it. ${found.reason}`);
      });
    });
  } else {
    describe.skip(`${name} (skipped: ${found.reason})`, fn);
  }
}
