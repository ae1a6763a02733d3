/**
 * The README's "A limited Octokit in five minutes" must work as printed: its code block is taken from
 * README.md, pointed at a local GitHub mock (one `baseUrl` added, nothing else changed) and run as the
 * ES module a user would save. If the README's code no longer runs, or stops going through the client,
 * this fails.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));
const PAGES = 3;
const PER_PAGE = 100;

/** The first ```ts block under the given heading. */
function codeBlockUnder(markdown: string, heading: string): string {
  const section = markdown.slice(markdown.indexOf(`\n${heading}\n`));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  if (!section.startsWith(`\n${heading}`) || match?.[1] === undefined) throw new Error(`No ts code block under "${heading}" in README.md`);
  return match[1];
}

/** GET /repos/nodejs/node/issues, PAGES pages linked as GitHub links them, with GitHub's rate-limit headers. */
async function gitHubMock() {
  const seen: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
  const server = createServer((req, res) => {
    req.resume();
    seen.push({ url: req.url ?? '', headers: req.headers });
    const url = new URL(req.url ?? '/', 'http://mock');
    const page = Number(url.searchParams.get('page') ?? '1');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}${url.pathname}?per_page=${PER_PAGE}`;
    const links =
      page < PAGES ? `<${base}&page=${page + 1}>; rel="next", <${base}&page=${PAGES}>; rel="last"` : `<${base}&page=1>; rel="first"`;
    const issues = Array.from({ length: PER_PAGE }, (_, i) => ({ number: (page - 1) * PER_PAGE + i + 1, title: 'an issue' }));
    res.writeHead(url.pathname === '/repos/nodejs/node/issues' ? 200 : 404, {
      'content-type': 'application/json; charset=utf-8',
      link: links,
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': String(5000 - seen.length),
      'x-ratelimit-used': String(seen.length),
      'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + 3600),
      'x-ratelimit-resource': 'core',
    });
    res.end(JSON.stringify(issues));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

describe('README: a limited Octokit in five minutes', () => {
  it('runs as printed against a GitHub mock, every page going through the client', async () => {
    const code = codeBlockUnder(readFileSync(README, 'utf8'), '### A limited Octokit in five minutes');
    const pointed = code.replace(
      'new Octokit({ auth: process.env.GITHUB_TOKEN,',
      'new Octokit({ baseUrl: process.env.GITHUB_API_URL, auth: process.env.GITHUB_TOKEN,',
    );
    expect(pointed, 'the snippet no longer makes its Octokit as this test expects: update the test with the README').not.toBe(code);

    const api = await gitHubMock();
    cleanup.push(api.close);
    vi.stubEnv('GITHUB_API_URL', api.url);
    vi.stubEnv('GITHUB_TOKEN', 'ghp_readme_test');
    cleanup.push(() => void vi.unstubAllEnvs());
    const printed: unknown[][] = [];
    vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void printed.push(args));

    // Inside the repository, so that `rate-limited-client` resolves as in every test (to src/).
    const dir = mkdtempSync(join(fileURLToPath(new URL('.', import.meta.url)), '.readme-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'issues.mjs');
    writeFileSync(file, pointed);
    await import(/* @vite-ignore */ file);

    expect(api.seen.map((request) => new URL(request.url, 'http://mock').searchParams.get('page') ?? '1')).toEqual(['1', '2', '3']);
    expect(api.seen.every((request) => request.headers.authorization === 'token ghp_readme_test')).toBe(true);
    const [count, stats] = printed[0] as [number, { completed: number; windows: Array<{ limit: number; used: number }> }];
    expect(count).toBe(PAGES * PER_PAGE);
    expect(stats.completed).toBe(PAGES);
    expect(stats.windows.map((window) => [window.limit, window.used])).toEqual([
      [5_000, PAGES],
      [900, PAGES],
    ]);
  });
});
