// Building meter requests and responses, and feeding a body to a usage reader in chosen pieces.
import type { Cost } from '../../../src/core/cost.js';
import type { Meter, MeterRequest, MeterResponse } from '../../../src/core/meter.js';

const encoder = new TextEncoder();

export function request(url: string, body: unknown): MeterRequest {
  return { method: 'POST', url, body: typeof body === 'string' || body === undefined ? body : JSON.stringify(body) };
}

export function response(status: number, headers: Record<string, string>, url = 'https://api.example.test/v1/x'): MeterResponse {
  return { status, headers: new Headers(headers), request: request(url, undefined) };
}

export const json = { 'content-type': 'application/json' };
export const eventStream = { 'content-type': 'text/event-stream; charset=utf-8' };

/** The body's bytes cut before each of `cuts` (byte offsets). */
export function cutAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    pieces.push(bytes.slice(from, cut));
    from = cut;
  }
  return pieces;
}

/** The body's bytes in pieces of `size` bytes. */
export function everyBytes(bytes: Uint8Array, size: number): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) pieces.push(bytes.slice(at, at + size));
  return pieces;
}

export function bytesOf(text: string): Uint8Array {
  return encoder.encode(text);
}

/** What the meter's usage reader settles for `body` arriving in `pieces` (the whole body by default). */
export function settle(meter: Meter, at: MeterResponse, body: string | Uint8Array[]): Cost | undefined {
  const reader = meter.usage?.(at);
  if (reader === undefined) throw new Error('the meter gave no usage reader');
  for (const piece of typeof body === 'string' ? [bytesOf(body)] : body) reader.chunk(piece);
  return reader.end();
}

/** The body cut at every byte boundary, one cut at a time, and in 1, 2, 3, 7 and 64 byte pieces. */
export function awkwardCuts(text: string): Array<{ name: string; pieces: Uint8Array[] }> {
  const bytes = bytesOf(text);
  const out: Array<{ name: string; pieces: Uint8Array[] }> = [];
  for (const size of [1, 2, 3, 7, 64]) out.push({ name: `${size}-byte pieces`, pieces: everyBytes(bytes, size) });
  for (let cut = 1; cut < bytes.length; cut++) out.push({ name: `cut at byte ${cut}`, pieces: cutAt(bytes, [cut]) });
  return out;
}
