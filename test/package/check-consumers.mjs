/**
 * `npm run check:consumers`: packs the package as npm would publish it, installs the tarball in a
 * temporary folder (with msw, the testing entry's optional peer) and runs a CommonJS and an ES module
 * consumer against it. Run after `npm run build`.
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

const folder = mkdtempSync(join(tmpdir(), 'rlc-consumers-'));
try {
  const [packed] = JSON.parse(execFileSync(npm, ['pack', '--json', '--pack-destination', folder], { cwd: root, encoding: 'utf8' }));
  console.log(`packed ${packed.filename}: ${packed.entryCount} files, ${packed.size} bytes`);
  writeFileSync(join(folder, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  execFileSync(npm, ['install', '--no-audit', '--no-fund', '--prefer-offline', join(folder, packed.filename), `msw@${mswVersion}`], {
    cwd: folder,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (const file of ['consumer.cjs', 'consumer.mjs', 'exercise.cjs']) copyFileSync(join(here, file), join(folder, file));
  for (const consumer of ['consumer.cjs', 'consumer.mjs']) {
    execFileSync(process.execPath, [consumer], { cwd: folder, stdio: 'inherit', timeout: 60_000 });
  }
} finally {
  rmSync(folder, { recursive: true, force: true });
}
