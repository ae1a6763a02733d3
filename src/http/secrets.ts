/** Header names whose values are never shown: in errors, events or stats. */
export const DEFAULT_SECRET_HEADERS: readonly string[] = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key'];

export const REDACTED = '[REDACTED]';

/** Response headers as a plain object for an error, secret values replaced. */
export function redactHeaders(headers: Headers, secret: ReadonlySet<string>): Record<string, string> {
  const plain: Record<string, string> = {};
  headers.forEach((value, name) => {
    plain[name] = secret.has(name) ? REDACTED : value;
  });
  return plain;
}

/** A URL for messages: without the user:password part, which is a credential. */
export function displayUrl(url: URL): string {
  if (url.username === '' && url.password === '') return url.href;
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  return copy.href;
}

/** `displayUrl` for a URL given as text, which may not parse (a mocked Response's url can be ''). */
export function displayUrlText(text: string): string {
  try {
    return displayUrl(new URL(text));
  } catch {
    // Up to the last '@': a password may hold spaces, '/' and other bytes that keep the URL from
    // parsing. It may take some of a path with it; better than showing a credential.
    return text.replace(/\/\/.*@/, '//');
  }
}
