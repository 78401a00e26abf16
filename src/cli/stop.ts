import type { EventEmitter } from 'node:events';
import type { Writable } from 'node:stream';
import { EXIT_FAILURE } from './common.js';
import { npmParentGone } from './npm-parent.js';

/** Why a long-running command stopped. */
export type StopReason = 'SIGINT' | 'SIGTERM' | 'stdout closed' | 'npm gone' | 'interrupted';

/** Long-running commands now waiting to be stopped: a closed stdout stops each of them. */
const running = new Set<(reason: StopReason) => void>();
let stdoutClosed = false;

/**
 * A reader that goes away (`oscport tail | head -1`) ends the command quietly with exit 0, as Unix
 * tools do: a long-running one is stopped (and so cleans up: `tail` unsubscribes), any other ends
 * at once. Installed once, by the CLI's entry point.
 */
export function endQuietlyWhenStdoutCloses(stdout: Writable = process.stdout, exit: (code: number) => void = process.exit): void {
  // EPIPE, or a write after it: either way nobody reads any more.
  stdout.on('error', () => {
    if (stdoutClosed) return;
    stdoutClosed = true;
    process.exitCode = 0;
    if (running.size === 0) exit(0);
    for (const stop of [...running]) stop('stdout closed');
  });
}

/** True once stdout's reader has gone: the command's exit code is then 0, whatever else happened. */
export function stdoutHasClosed(): boolean {
  return stdoutClosed;
}

export interface UntilStopped {
  /** Aborted, with the reason, when the command should stop. */
  signal: AbortSignal;
  /** Resolves with the reason when the command should stop. */
  stopped: Promise<StopReason>;
  /** Stops listening: call once the command has stopped. */
  dispose(): void;
}

export interface UntilStoppedOptions {
  /** Where SIGINT and SIGTERM come from (tests give an emitter). */
  signals?: EventEmitter;
  /** Stops it too (tests, and callers that stop it themselves). */
  interrupt?: AbortSignal;
  env?: NodeJS.ProcessEnv;
  /** Resolves when stdout's reader has gone, where the command writes it other than through `process.stdout` (its log). */
  readerGone?: Promise<unknown>;
}

/**
 * What stops every long-running command (`start`, `tail`, `leases --watch`, `simulate`,
 * `atlas-sim`, the demo), in one place: Ctrl-C or SIGTERM, stdout's reader gone, or, run through
 * npm or npx, npm gone (stopping npx by its PID leaves no orphan holding ports). A second signal
 * exits at once.
 */
export function untilStopped({ signals = process, interrupt, env = process.env, readerGone }: UntilStoppedOptions = {}): UntilStopped {
  const controller = new AbortController();
  let settle: (reason: StopReason) => void = () => {};
  const stopped = new Promise<StopReason>((resolve) => (settle = resolve));
  const stop = (reason: StopReason) => {
    if (controller.signal.aborted) return;
    controller.abort(reason);
    settle(reason);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(EXIT_FAILURE);
    stop(signal === 'SIGINT' ? 'SIGINT' : 'SIGTERM');
  };
  const onInterrupt = () => stop('interrupted');
  signals.on('SIGINT', onSignal);
  signals.on('SIGTERM', onSignal);
  interrupt?.addEventListener('abort', onInterrupt, { once: true });
  const npm = npmParentGone(env);
  void npm.gone.then(() => stop('npm gone'));
  void readerGone?.then(() => stop('stdout closed'));
  running.add(stop);
  if (stdoutClosed) stop('stdout closed');
  if (interrupt?.aborted) stop('interrupted');
  return {
    signal: controller.signal,
    stopped,
    dispose: () => {
      signals.off('SIGINT', onSignal);
      signals.off('SIGTERM', onSignal);
      interrupt?.removeEventListener('abort', onInterrupt);
      npm.cancel();
      running.delete(stop);
    },
  };
}
