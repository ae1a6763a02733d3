/**
 * `npm run check:consumers`: packs the package as npm would publish it, installs the tarball in a
 * temporary folder (with msw, the testing entry's optional peer) and runs a CommonJS and an ES module
 * consumer against it. Run after `npm run build`.
 *
 * Then the CommonJS consumer on a Node that can not require() ES modules, where msw's CommonJS build
 * can not load (issue 17, item 6): require-esm-error.cjs checks that the testing entry fails with our
 * error, naming the cause and the fix. Twice: on this Node with --no-experimental-require-module (when
 * it has require(esm) to turn off), and on Node 20.18.1, the oldest supported, from the npm registry's
 * `node` package, where the ES module consumer must also still work. When Node 20.18.1 can not be
 * fetched that part is skipped, saying so; in CI (CI=true) that is a failure.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const here = fileURLToPath(new URL('./', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const mswVersion = createRequire(import.meta.url)(join(root, 'node_modules/msw/package.json')).version;
// The otel entry's optional peer, at the version this repository develops against.
const otelApiVersion = createRequire(import.meta.url)(join(root, 'node_modules/@opentelemetry/api/package.json')).version;

const folder = mkdtempSync(join(tmpdir(), 'rlc-consumers-'));
try {
  const [packed] = JSON.parse(execFileSync(npm, ['pack', '--json', '--pack-destination', folder], { cwd: root, encoding: 'utf8' }));
  console.log(`packed ${packed.filename}: ${packed.entryCount} files, ${packed.size} bytes`);
  writeFileSync(join(folder, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  execFileSync(
    npm,
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      join(folder, packed.filename),
      `msw@${mswVersion}`,
      `@opentelemetry/api@${otelApiVersion}`,
    ],
    {
      cwd: folder,
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  for (const file of ['consumer.cjs', 'consumer.mjs', 'exercise.cjs', 'require-esm-error.cjs'])
    copyFileSync(join(here, file), join(folder, file));
  for (const consumer of ['consumer.cjs', 'consumer.mjs']) {
    execFileSync(process.execPath, [consumer], { cwd: folder, stdio: 'inherit', timeout: 60_000 });
  }

  if (process.features.require_module && process.allowedNodeEnvironmentFlags.has('--no-experimental-require-module')) {
    execFileSync(process.execPath, ['--no-experimental-require-module', 'require-esm-error.cjs'], {
      cwd: folder,
      stdio: 'inherit',
      timeout: 60_000,
    });
  } else {
    console.log(
      `skipped: the check with require(esm) turned off (Node ${process.version} has no require(esm) to turn off; Node 20.18.1 below covers it)`,
    );
  }

  const oldNode = '20.18.1';
  const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
  const onOldNode = (args) =>
    execFileSync(npx, ['-y', '-p', `node@${oldNode}`, '--', 'node', ...args], {
      cwd: folder,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 300_000,
    });
  let fetched;
  try {
    fetched = onOldNode(['--version']).trim();
  } catch (error) {
    fetched = `failed: ${String(error.stderr || error.message)
      .trim()
      .split('\n')
      .slice(-3)
      .join(' / ')}`;
  }
  if (fetched === `v${oldNode}`) {
    for (const consumer of ['require-esm-error.cjs', 'consumer.mjs']) {
      try {
        process.stdout.write(onOldNode([consumer]));
      } catch (error) {
        process.stdout.write(error.stdout ?? '');
        process.stderr.write(error.stderr ?? '');
        throw new Error(`${consumer} failed on Node ${oldNode}`);
      }
    }
  } else if (process.env.CI === 'true') {
    throw new Error(`could not run Node ${oldNode} from the npm registry (npx -p node@${oldNode}): ${fetched}`);
  } else {
    console.warn(
      `SKIPPED: the consumers on Node ${oldNode}: npx -p node@${oldNode} did not give that Node (${fetched}). In CI this fails.`,
    );
  }
} finally {
  rmSync(folder, { recursive: true, force: true });
}
