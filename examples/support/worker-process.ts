import type { ChildProcess } from 'node:child_process';

/**
 * What a forked worker sends over its IPC channel: `ready` once (connected, waiting for the parent's
 * go), `done` once with its report, and in between any other message of the example's own.
 */
export type WorkerMessage<Report, Other = never> = { type: 'ready' } | ({ type: 'done' } & Report) | Other;

export interface WatchedWorker<Report> {
  /** Resolves once the worker said `ready`, or once it ended without saying so (then `report` rejects). */
  ready: Promise<void>;
  /** Its `done` message, once it has also exited with code 0; rejects if it exits any other way. */
  report: Promise<Report>;
}

/**
 * Follows one worker forked by an example whose messages are `Message` (a WorkerMessage): the ones
 * that are neither `ready` nor `done` go to `onMessage`.
 */
export function watchWorker<Message extends { type: string }>(
  child: ChildProcess,
  onMessage: (message: Exclude<Message, { type: 'ready' | 'done' }>) => void = () => {},
): WatchedWorker<Extract<Message, { type: 'done' }>> {
  type Report = Extract<Message, { type: 'done' }>;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const report = new Promise<Report>((resolve, reject) => {
    let result: Report | undefined;
    child.on('message', (raw) => {
      const message = raw as Message;
      if (message.type === 'ready') return markReady();
      if (message.type !== 'done') return onMessage(message as Exclude<Message, { type: 'ready' | 'done' }>);
      result = message as Report;
      // Closing the IPC channel is what lets the worker's event loop empty and the process exit.
      child.disconnect();
    });
    child.once('exit', (code, signal) => {
      if (result !== undefined && code === 0) resolve(result);
      else reject(new Error(`worker pid ${child.pid} exited with code ${code}, signal ${signal}, before reporting`));
    });
  });
  // A worker that dies before `ready` must not leave the parent waiting for it.
  return { ready: Promise.race([ready, report.then(() => {})]), report };
}
