import { describe, it } from 'vitest';
import { topologyToolsAvailable } from './redis-topology.js';

/**
 * `describe` for suites that start a topology. Without redis-server or redis-cli the suite is skipped,
 * and the skip names the reason; in CI (`CI=true`) it fails instead, so a green run means it ran.
 */
export function describeWithTopology(name: string, fn: () => void): void {
  const found = topologyToolsAvailable();
  if (found.ok) {
    describe(name, fn);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs redis-server and redis-cli', () => {
        throw new Error(`redis-server and redis-cli are required in CI; .ci/run installs them. ${found.reason}`);
      });
    });
  } else {
    describe.skip(`${name} (skipped: ${found.reason})`, fn);
  }
}
