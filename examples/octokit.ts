/**
 * Octokit under the client's limits. Run it from the repository root: `npx tsx examples/octokit.ts`.
 *
 * A triage script lists every open issue of a repository (`octokit.paginate`, which follows GitHub's
 * `Link` header page by page) and looks up the author of each: 55 requests against a local mock of the
 * GitHub REST API that serves 30 requests per 2 s window and 10 at a time, and refuses the rest as
 * GitHub does (403 "API rate limit exceeded", 429 for the secondary limit). Octokit is used as it is:
 * it gets `client.fetch` as its `fetch`, so each request it sends, every page included, waits for the
 * client's window and semaphore. The run fails (exit code 1) if the mock refused a request or saw more
 * than 30 in any 2 s or more than 10 at once, if a call failed, or if data came back wrong.
 *
 * Against the real API, give Octokit your token and no `baseUrl`, and give the client GitHub's
 * documented limits (docs.github.com: "Rate limits for the REST API"): 5,000 requests an hour with a
 * token (15,000 for a GitHub App owned by an Enterprise Cloud organization) and, for the secondary
 * limits, at most 100 concurrent requests and 900 points a minute:
 *
 *   const client = new RateLimitedClient({
 *     concurrency: 20,
 *     rateLimit: [{ limit: 5_000, windowMs: 3_600_000 }, { limit: 900, windowMs: 60_000 }],
 *     adaptive: { resetMode: 'epoch-seconds' },
 *   });
 *   const octokit = new Octokit({ auth: process.env.GITHUB_TOKEN, request: { fetch: client.fetch } });
 *
 * The hourly quota is shared by everything that uses your token; the client also listens to
 * `x-ratelimit-remaining` and `x-ratelimit-reset` on every answer, so it stops when GitHub says the
 * quota is used up, even if other programs used it. It treats GitHub's 403 with `retry-after` (a
 * secondary limit) or `x-ratelimit-remaining: 0` as the rate-limit refusal it is: it pauses and
 * retries. Search has a quota of its own (30 a minute, `x-ratelimit-resource: search`); the client
 * follows only the answers about `core`, so send searches through an Octokit on a second client,
 * made with `rateLimit: { limit: 30, windowMs: 60_000 }` and `adaptive: { resource: 'search' }`.
 */
import { performance } from 'node:perf_hooks';
import { Octokit } from '@octokit/rest';
import { RateLimitedClient, type RateLimitedEvent } from 'rate-limited-client';
import { AUTHOR_COUNT, ISSUE_COUNT, OWNER, REPO, authorOf, startGitHubMock } from './support/github-mock.js';
import { maxInAnyWindow } from './support/window-count.js';

const LIMIT = 30;
const WINDOW_SECONDS = 2;
const MAX_CONCURRENT = 10;
const PER_PAGE = 25;

const t0 = performance.now();
const seconds = () => `${((performance.now() - t0) / 1000).toFixed(1).padStart(4)} s`;
const github = await startGitHubMock({ limit: LIMIT, windowSeconds: WINDOW_SECONDS, maxConcurrent: MAX_CONCURRENT, latencyMs: 20 });

const client = new RateLimitedClient({
  // Below the server's secondary limit: a request frees its permit when its response headers arrive,
  // the earliest moment the server can be done with it.
  concurrency: 8,
  rateLimit: { limit: LIMIT, windowMs: WINDOW_SECONDS * 1000 },
  // GitHub's `x-ratelimit-reset` is a UTC epoch in seconds, where most APIs send seconds from now.
  // 'auto' would guess right (it reads any value past 10^9 as an epoch), but a GitHub client can say so.
  adaptive: { resetMode: 'epoch-seconds' },
});
client.on('error', (error) => console.error('client error:', error));
const serverSaid: RateLimitedEvent[] = [];
client.on('rate-limited', (event) => serverSaid.push(event));

const octokit = new Octokit({
  baseUrl: github.url,
  auth: 'ghp_a_token_for_the_mock',
  userAgent: 'rate-limited-client-example',
  // Octokit types `fetch` as `any`, so nothing checks this fits; `client.fetch` is a standard fetch.
  // A call can take another place in the queue with its own fetch:
  // `request: { fetch: (url, init) => client.fetch(url, { ...init, rateLimit: { priority: -1 } }) }`.
  request: { fetch: client.fetch },
});

console.log(`GitHub mock at ${github.url}: ${LIMIT} requests per ${WINDOW_SECONDS} s window, ${MAX_CONCURRENT} at a time; 403/429 beyond.`);
console.log(`Client: concurrency 8, rateLimit ${LIMIT} per ${WINDOW_SECONDS * 1000} ms, x-ratelimit-reset read as epoch seconds.\n`);

const problems: string[] = [];
const check = (ok: boolean, problem: string) => {
  if (!ok) problems.push(problem);
};

try {
  const { data: repo } = await octokit.rest.repos.get({ owner: OWNER, repo: REPO });
  check(repo.full_name === `${OWNER}/${REPO}`, `repos.get answered ${repo.full_name}`);
  console.log(`${seconds()}  repos.get: ${repo.full_name}, ${repo.open_issues_count} open issues`);

  const issues = await octokit.paginate(octokit.rest.issues.listForRepo, { owner: OWNER, repo: REPO, state: 'open', per_page: PER_PAGE });
  check(
    issues.map((issue) => issue.number).join() === Array.from({ length: ISSUE_COUNT }, (_, i) => i + 1).join(),
    'paginate missed or repeated issues',
  );
  console.log(`${seconds()}  paginate issues.listForRepo: ${issues.length} issues in ${Math.ceil(issues.length / PER_PAGE)} pages`);
  for (const issue of issues) check(issue.user?.login === authorOf(issue.number), `issue ${issue.number} has the wrong author`);

  // The fan-out: every lookup is handed to the client at once, and the client spreads them over
  // the windows, so this is as fast as the quota allows and never faster.
  const logins = [...new Set(issues.map((issue) => issue.user?.login ?? ''))];
  const lookups = await Promise.allSettled(logins.map((username) => octokit.rest.users.getByUsername({ username })));
  lookups.forEach((lookup, i) => {
    if (lookup.status === 'rejected') problems.push(`users.getByUsername(${logins[i]}) rejected: ${String(lookup.reason)}`);
    else check(lookup.value.data.login === logins[i], `asked for ${logins[i]}, got ${lookup.value.data.login}`);
  });
  const profiles = lookups.filter((lookup) => lookup.status === 'fulfilled').length;
  check(
    logins.length === AUTHOR_COUNT && profiles === AUTHOR_COUNT,
    `${profiles} profiles of ${logins.length} authors, expected ${AUTHOR_COUNT}`,
  );
  console.log(`${seconds()}  users.getByUsername x ${logins.length}: ${profiles} profiles`);
} catch (error) {
  problems.push(`a call failed: ${String(error)}`);
}

const stats = client.stats();
await client.close();
await github.close();

// --- What the server saw, not what the client believes it did.
const arrivals = github.arrivals;
const refused = arrivals.filter((arrival) => arrival.status === 403 || arrival.status === 429);
const busiest = maxInAnyWindow(
  arrivals.map((arrival) => arrival.at),
  WINDOW_SECONDS * 1000,
);
const span = arrivals.length > 0 ? ((arrivals.at(-1)?.at ?? 0) - (arrivals[0]?.at ?? 0)) / 1000 : 0;
check(refused.length === 0, `${refused.length} requests refused: ${refused.map((a) => `${a.status} ${a.path}`).join(', ')}`);
check(busiest <= LIMIT, `${busiest} requests in one ${WINDOW_SECONDS} s window, over the limit of ${LIMIT}`);
check(github.mostInProgress() <= MAX_CONCURRENT, `${github.mostInProgress()} requests at once, over ${MAX_CONCURRENT}`);
const pauses = serverSaid.filter((event) => event.reason !== 'policy');
const reasons = [...new Set(pauses.map((event) => `${event.reason} (${event.sources.join(', ')})`))];

console.log('\nSummary');
console.log(`  requests sent:          ${arrivals.length}, the first to the last in ${span.toFixed(1)} s`);
console.log(`  refused (403/429):      ${refused.length}`);
console.log(`  busiest ${WINDOW_SECONDS} s window:     ${busiest} requests (limit ${LIMIT})`);
console.log(`  most at once:           ${github.mostInProgress()} (limit ${MAX_CONCURRENT})`);
const times = pauses.length === 1 ? 'once' : `${pauses.length} times`;
console.log(
  `  server said "used up":  ${pauses.length === 0 ? 'never' : `${times}, and the client paused until the reset: ${reasons.join('; ')}`}`,
);
console.log(`  client.stats():         completed ${stats.completed}, failed ${stats.failed}, rejected ${stats.rejected}`);
for (const problem of problems.slice(0, 5)) console.log(`  PROBLEM: ${problem}`);
if (problems.length > 5) console.log(`  ... and ${problems.length - 5} more problems`);
console.log(`\n${problems.length > 0 ? 'FAILED' : 'OK'} in ${seconds().trim()}`);
// exitCode rather than process.exit(): the process ending by itself shows nothing was left open.
process.exitCode = problems.length > 0 ? 1 : 0;
