import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson, startLocalServer, type LocalServer } from './local-server.js';

export interface GitHubMockOptions {
  /** Requests allowed per window (GitHub: 5,000 an hour with a token). */
  limit: number;
  /** Window length in whole seconds: GitHub's `x-ratelimit-reset` is in whole epoch seconds. */
  windowSeconds: number;
  /** The secondary limit: most requests in progress at once (GitHub: about 100). */
  maxConcurrent: number;
  /** How long each answer takes, so requests really overlap. */
  latencyMs: number;
}

export const OWNER = 'acme';
export const REPO = 'widgets';
/** Open issues of acme/widgets; issue n is by `authorOf(n)`. */
export const ISSUE_COUNT = 100;
export const AUTHOR_COUNT = 50;
export const authorOf = (n: number): string => `dev-${String(n % AUTHOR_COUNT).padStart(2, '0')}`;

const DOCS = 'https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api';

/**
 * A small GitHub REST API: `GET /repos/{owner}/{repo}`, `GET /repos/{owner}/{repo}/issues` (paginated
 * with a `Link` header, as `octokit.paginate` expects), `GET /repos/{owner}/{repo}/issues/{n}` and
 * `GET /users/{username}`, each answered after `latencyMs`.
 *
 * Rate limits as GitHub enforces them: a primary quota in a fixed window that starts with the first
 * request and resets at a whole epoch second (every answer carries `x-ratelimit-*`; over it: 403 with
 * `x-ratelimit-remaining: 0`), and a secondary limit on concurrent requests (over it: 429 with
 * `retry-after`). A refused request does not use quota.
 */
export function startGitHubMock(options: GitHubMockOptions): Promise<LocalServer> {
  const { limit, windowSeconds, maxConcurrent, latencyMs } = options;
  let used = 0;
  let resetAtMs = 0; // epoch ms of the current window's end, a whole second

  return startLocalServer((req, res, inProgress) => {
    req.resume(); // GETs only; an unread body would stall the keep-alive socket
    const nowMs = Date.now();
    if (nowMs >= resetAtMs) {
      used = 0;
      resetAtMs = (Math.floor(nowMs / 1000) + windowSeconds) * 1000;
    }
    const requestId = `C0DE:${(nowMs % 1e6).toString(16).toUpperCase()}:${String(inProgress)}`;
    const quota = () => ({
      'x-ratelimit-limit': String(limit),
      'x-ratelimit-remaining': String(limit - used),
      'x-ratelimit-used': String(used),
      'x-ratelimit-reset': String(resetAtMs / 1000),
      'x-ratelimit-resource': 'core',
      'x-github-request-id': requestId,
    });

    if (inProgress > maxConcurrent) {
      const message = `You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID ${requestId}.`;
      // GitHub asks for 60 s or more; a wait as scaled down as the quota keeps a failing run short.
      sendJson(res, 429, { ...quota(), 'retry-after': String(windowSeconds) }, { message, documentation_url: DOCS, status: '429' });
      return;
    }
    if (used >= limit) {
      const message = `API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID ${requestId}.`;
      sendJson(res, 403, quota(), { message, documentation_url: DOCS, status: '403' });
      return;
    }
    used++;
    const headers = quota();
    setTimeout(() => route(req, res, headers), latencyMs);
  });
}

function route(req: IncomingMessage, res: ServerResponse, headers: Record<string, string>): void {
  const url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`);
  const api = `${url.protocol}//${url.host}`;
  const parts = url.pathname.split('/').slice(1);
  const [first, owner, repo, sub, number] = parts;
  const known = owner === OWNER && repo === REPO;

  if (first === 'users' && owner !== undefined && parts.length === 2) {
    return sendJson(res, 200, headers, user(owner, api));
  }
  if (first === 'repos' && known && parts.length === 3) {
    return sendJson(res, 200, headers, {
      id: 4242,
      name: REPO,
      full_name: `${OWNER}/${REPO}`,
      private: false,
      owner: user(OWNER, api),
      html_url: `https://github.com/${OWNER}/${REPO}`,
      url: `${api}/repos/${OWNER}/${REPO}`,
      default_branch: 'main',
      open_issues_count: ISSUE_COUNT,
      stargazers_count: 1312,
      forks_count: 64,
    });
  }
  if (first === 'repos' && known && sub === 'issues' && parts.length === 4) {
    const perPage = Math.min(100, Number(url.searchParams.get('per_page') ?? 30));
    const page = Math.max(1, Number(url.searchParams.get('page') ?? 1));
    const last = Math.ceil(ISSUE_COUNT / perPage);
    const from = (page - 1) * perPage + 1;
    const numbers = Array.from({ length: Math.max(0, Math.min(perPage, ISSUE_COUNT - from + 1)) }, (_, i) => from + i);
    return sendJson(
      res,
      200,
      { ...headers, link: linkHeader(url, page, last) },
      numbers.map((n) => issue(n, api)),
    );
  }
  if (first === 'repos' && known && sub === 'issues' && parts.length === 5) {
    const n = Number(number);
    if (Number.isInteger(n) && n >= 1 && n <= ISSUE_COUNT) return sendJson(res, 200, headers, issue(n, api));
  }
  sendJson(res, 404, headers, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' });
}

/** GitHub's pagination: `<…?page=2>; rel="next", <…?page=4>; rel="last"`, and prev/first past page 1. */
function linkHeader(url: URL, page: number, last: number): string {
  const at = (p: number) => {
    const target = new URL(url);
    target.searchParams.set('page', String(p));
    return target.href;
  };
  const links: string[] = [];
  if (page > 1) links.push(`<${at(page - 1)}>; rel="prev"`);
  if (page < last) links.push(`<${at(page + 1)}>; rel="next"`, `<${at(last)}>; rel="last"`);
  if (page > 1) links.push(`<${at(1)}>; rel="first"`);
  return links.join(', ');
}

function user(login: string, api: string) {
  return {
    login,
    id: 1000 + login.length,
    type: 'User',
    url: `${api}/users/${login}`,
    html_url: `https://github.com/${login}`,
    name: login.toUpperCase(),
    public_repos: 12,
  };
}

function issue(n: number, api: string) {
  return {
    id: 900_000 + n,
    number: n,
    state: 'open',
    title: `Widget ${n} wobbles when rotated`,
    user: { login: authorOf(n), id: 1000 + n, type: 'User' },
    labels: [],
    comments: n % 4,
    url: `${api}/repos/${OWNER}/${REPO}/issues/${n}`,
    html_url: `https://github.com/${OWNER}/${REPO}/issues/${n}`,
    created_at: '2025-01-01T00:00:00Z',
    updated_at: '2025-01-02T00:00:00Z',
    body: 'Steps to reproduce: rotate it.',
  };
}
