import diagnosticsChannel from 'node:diagnostics_channel';
import type { DIAGNOSTICS_CHANNELS } from '../../src/index.js';

export type ChannelName = (typeof DIAGNOSTICS_CHANNELS)[keyof typeof DIAGNOSTICS_CHANNELS];

/** Records what is published on `names`, as [channel, message] in order, until `stop()`. */
export function recordChannels(names: readonly ChannelName[]): { seen: Array<[ChannelName, unknown]>; stop: () => void } {
  const seen: Array<[ChannelName, unknown]> = [];
  const subscriptions = names.map((name) => {
    const listener = (message: unknown) => seen.push([name, message]);
    diagnosticsChannel.subscribe(name, listener);
    return () => diagnosticsChannel.unsubscribe(name, listener);
  });
  return { seen, stop: () => subscriptions.forEach((unsubscribe) => unsubscribe()) };
}
