import type { Worker } from 'node:worker_threads';

/** Resolves at the worker's next message of that type (its fields as numbers: the senders' counts), rejects if it throws. */
export function nextWorkerMessage(worker: Worker, type: string): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const listener = (message: { type: string }) => {
      if (message.type !== type) return;
      worker.off('message', listener);
      resolve(message as unknown as Record<string, number>);
    };
    worker.on('message', listener);
    worker.once('error', reject);
  });
}
