// The CommonJS build's msw loading (issue 17, item 6): an ERR_REQUIRE_ESM from msw's CommonJS build
// becomes our own error, naming the cause and the fix. The real thing, a CommonJS consumer of the
// packed package on Node 20.18.1, is in test/package/check-consumers.mjs.
import * as msw from 'msw';
import { describe, expect, it } from 'vitest';
import { getResponse } from '../../../src/testing/msw.js';
import { MSW_REQUIRE_ESM_CODE, requireMsw, toMswLoadError } from '../../../src/testing/msw-cjs.js';

/** An error shaped like the one Node 20.18.1 throws from inside msw 2.15's CommonJS build. */
function requireEsmError(
  message = 'require() of ES Module /app/node_modules/rettime/build/index.mjs not supported.\n' +
    'Instead change the require of /app/node_modules/rettime/build/index.mjs to a dynamic import() which is available in all CommonJS modules.',
): Error {
  return Object.assign(new Error(message), { code: 'ERR_REQUIRE_ESM' });
}

/** What `fn` threw (fails the test when it returns). */
function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

function notFound(id: string): Error {
  return Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' });
}

describe('toMswLoadError', () => {
  it('turns ERR_REQUIRE_ESM into an error of ours that names the cause and the fix', () => {
    const original = requireEsmError();
    const error = toMswLoadError(original, 'v20.18.1', '2.15.0');

    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBe(original);
    expect(error).toMatchObject({ code: MSW_REQUIRE_ESM_CODE, cause: original });
    expect(MSW_REQUIRE_ESM_CODE).toBe('RLC_ERR_MSW_REQUIRE_ESM');
    expect((error as Error).message).toBe(
      'rate-limited-client/testing could not load msw from CommonJS on Node v20.18.1: ' +
        "msw 2.15.0's CommonJS build requires rettime, an ES-module-only package, and this Node can not require() ES modules. " +
        'Load rate-limited-client/testing (and msw) with `import` from an ES module, or use Node >= 20.19 or >= 22.12, ' +
        'where require() of ES modules works.',
    );
  });

  it('names the package from the newer message form, with a scope and a "from" part', () => {
    const original = requireEsmError(
      'require() of ES Module /app/node_modules/@scope/esm-only/index.js from /app/node_modules/msw/lib/core/sse.js not supported.',
    );
    const message = (toMswLoadError(original, 'v21.7.3') as Error).message;
    expect(message).toContain("msw's CommonJS build requires @scope/esm-only, an ES-module-only package");
    expect(message).not.toContain('msw/lib');
  });

  it('names the innermost package of a nested node_modules path, on Windows too', () => {
    const original = requireEsmError(
      'require() of ES Module C:\\app\\node_modules\\msw\\node_modules\\@scope\\esm-only\\build\\index.mjs not supported.',
    );
    expect((toMswLoadError(original, 'v20.18.1') as Error).message).toContain('requires @scope/esm-only, an ES-module-only package');
  });

  it('still explains itself when the message names no package', () => {
    const message = (toMswLoadError(requireEsmError('something else'), 'v20.18.1') as Error).message;
    expect(message).toContain("msw's CommonJS build requires an ES-module-only dependency, and this Node can not require() ES modules");
    expect(message).toContain('`import`');
  });

  it.each(['v20.19.0', 'v20.20.2', 'v22.12.0', 'v24.1.0'])(
    'on %s, where require(esm) is on by default, says it was turned off rather than to upgrade',
    (version) => {
      const message = (toMswLoadError(requireEsmError(), version, '2.15.0') as Error).message;
      expect(message).toContain(`on Node ${version}:`);
      expect(message).toContain('require() of ES modules is turned off in this process (--no-experimental-require-module');
      expect(message).toContain('`import`');
      expect(message).not.toContain('>= 20.19');
    },
  );

  it.each(['v20.18.1', 'v21.7.3', 'v22.11.0'])('on %s, says to upgrade Node or use import', (version) => {
    const message = (toMswLoadError(requireEsmError(), version) as Error).message;
    expect(message).toContain('this Node can not require() ES modules');
    expect(message).toContain('or use Node >= 20.19 or >= 22.12');
  });

  it('returns any other failure untouched', () => {
    const missing = notFound('msw');
    expect(toMswLoadError(missing, 'v20.18.1')).toBe(missing);
    const plain = new Error('require() of ES Module /x/node_modules/y/index.mjs not supported.');
    expect(toMswLoadError(plain, 'v20.18.1')).toBe(plain);
    const notAnError = { code: 'ERR_REQUIRE_ESM', message: 'not an Error' };
    expect(toMswLoadError(notAnError, 'v20.18.1')).toBe(notAnError);
    expect(toMswLoadError('thrown string', 'v20.18.1')).toBe('thrown string');
  });
});

describe('requireMsw', () => {
  it('returns what require() gives for msw', () => {
    const loaded = { getResponse: () => undefined };
    expect(requireMsw((id) => (id === 'msw' ? loaded : undefined))).toBe(loaded);
  });

  it("throws our error, with msw's version, when msw's CommonJS build needs require(esm)", () => {
    const original = requireEsmError();
    const load = (id: string): unknown => {
      if (id === 'msw') throw original;
      if (id === 'msw/package.json') return { version: '2.15.0' };
      throw notFound(id);
    };
    const thrown = thrownBy(() => requireMsw(load));
    expect(thrown).toMatchObject({ code: MSW_REQUIRE_ESM_CODE, cause: original });
    expect((thrown as Error).message).toContain(
      `could not load msw from CommonJS on Node ${process.version}: msw 2.15.0's CommonJS build requires rettime`,
    );
  });

  it("leaves the version out when msw's package.json can not be read", () => {
    const load = (id: string): unknown => {
      throw id === 'msw' ? requireEsmError() : notFound(id);
    };
    expect(() => requireMsw(load)).toThrow("msw's CommonJS build requires rettime");
  });

  it('rethrows any other failure as it is (msw not installed)', () => {
    const missing = notFound('msw');
    expect(
      thrownBy(() =>
        requireMsw(() => {
          throw missing;
        }),
      ),
    ).toBe(missing);
  });
});

describe('the sources (no TSUP_FORMAT: vitest, tsx)', () => {
  it("use msw's ES module getResponse, as the ES module build does", () => {
    expect(getResponse).toBe(msw.getResponse);
  });
});
