// How the CommonJS build of the testing entry loads msw (see ./msw.ts for why and when).

/** The `code` of the error thrown when msw's CommonJS build can not be loaded for want of require(esm). */
export const MSW_REQUIRE_ESM_CODE = 'RLC_ERR_MSW_REQUIRE_ESM';

type Load = (id: string) => unknown;

/**
 * `require('msw')`, with an ERR_REQUIRE_ESM from inside msw rethrown as our own error (see
 * {@link toMswLoadError}). Any other failure, such as msw not being installed, is rethrown as it is.
 */
export function requireMsw(load: Load = require): typeof import('msw') {
  try {
    return load('msw') as typeof import('msw');
  } catch (error) {
    throw toMswLoadError(error, process.version, mswVersion(load));
  }
}

/**
 * Given what `require('msw')` threw, the error to throw instead: for ERR_REQUIRE_ESM an Error of ours
 * that names the cause and the fix (code {@link MSW_REQUIRE_ESM_CODE}, `cause` the original); for
 * anything else the original, untouched.
 */
export function toMswLoadError(error: unknown, nodeVersion: string, mswVersion?: string): unknown {
  if (!(error instanceof Error) || (error as { code?: unknown }).code !== 'ERR_REQUIRE_ESM') return error;
  const esm = esModulePackage(error.message);
  const requires = esm === undefined ? 'an ES-module-only dependency' : `${esm}, an ES-module-only package`;
  const msw = mswVersion === undefined ? 'msw' : `msw ${mswVersion}`;
  // On a Node that can require() ES modules by default, the feature was turned off for this process.
  const reason = requiresEsmByDefault(nodeVersion)
    ? 'require() of ES modules is turned off in this process (--no-experimental-require-module, on the command line or in NODE_OPTIONS). ' +
      'Turn it back on, or load rate-limited-client/testing (and msw) with `import` from an ES module.'
    : 'this Node can not require() ES modules. Load rate-limited-client/testing (and msw) with `import` from an ES module, ' +
      'or use Node >= 20.19 or >= 22.12, where require() of ES modules works.';
  const translated = new Error(
    `rate-limited-client/testing could not load msw from CommonJS on Node ${nodeVersion}: ` +
      `${msw}'s CommonJS build requires ${requires}, and ${reason}`,
    { cause: error },
  );
  Object.defineProperty(translated, 'code', { value: MSW_REQUIRE_ESM_CODE, enumerable: true });
  return translated;
}

/** Node 20.19+, 22.12+ and 23+ require() ES modules unless told not to. */
function requiresEsmByDefault(nodeVersion: string): boolean {
  const [major = 0, minor = 0] = nodeVersion.replace(/^v/, '').split('.').map(Number);
  return (major === 20 && minor >= 19) || (major === 22 && minor >= 12) || major >= 23;
}

/**
 * The package Node refused to require(), read from its message: "require() of ES Module
 * /app/node_modules/rettime/build/index.mjs [from /app/node_modules/msw/lib/…] not supported."
 */
function esModulePackage(message: string): string | undefined {
  const file = /require\(\) of ES Module (.+?)(?: from .+?)? not supported/.exec(message)?.[1];
  if (file === undefined) return undefined;
  const names = [...file.matchAll(/node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/g)];
  return names.at(-1)?.[1]?.replace('\\', '/');
}

function mswVersion(load: Load): string | undefined {
  try {
    const { version } = load('msw/package.json') as { version?: unknown };
    return typeof version === 'string' ? version : undefined;
  } catch {
    return undefined;
  }
}
