export interface ProgressStream {
  isTTY?: boolean;
  write(chunk: string): unknown;
}

export interface Progress {
  update(done: number, failed: number): void;
  finish(): void;
}

const BAR_WIDTH = 20;
const MIN_REDRAW_MS = 100;

/** A one-line bar redrawn in place, on a terminal only: pipes and log files get nothing. */
export function createProgress(total: number, stream: ProgressStream = process.stderr): Progress {
  if (!stream.isTTY) return { update() {}, finish() {} };
  let done = 0;
  let failed = 0;
  let lastDrawAt = -Infinity;
  let trailing: NodeJS.Timeout | undefined;

  const draw = () => {
    trailing = undefined;
    lastDrawAt = performance.now();
    stream.write(renderProgress(done, failed, total));
  };

  return {
    update(nextDone, nextFailed) {
      done = nextDone;
      failed = nextFailed;
      if (trailing) return;
      const wait = lastDrawAt + MIN_REDRAW_MS - performance.now();
      if (wait <= 0) draw();
      // The last update of a burst is drawn late rather than never.
      else trailing = setTimeout(draw, wait).unref();
    },
    finish() {
      clearTimeout(trailing);
      draw();
      stream.write('\n');
    },
  };
}

export function renderProgress(done: number, failed: number, total: number): string {
  const ratio = total > 0 ? Math.min(1, Math.max(0, done / total)) : 1;
  const filled = Math.round(ratio * BAR_WIDTH);
  const count = String(done).padStart(String(total).length);
  return `\r[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]  ${count}/${total} bound  ${failed} failed`;
}
