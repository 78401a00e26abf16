const POLL_MS = 250;

/**
 * Run through npm (`npm start`, `npx oscport start`), the coordinator is npm's child, or the child of
 * the `sh -c` that npx runs it in. When that parent goes, nothing is left to stop the coordinator, and it
 * would hold its port as an orphan: npm killed outright, or npx sent SIGTERM, which npm forwards to the
 * shell only, and the shell dies of it without passing it on. Node has no parent-death signal, so the
 * parent's PID is polled. Only under npm (it sets `npm_command`), whose processes are wrappers: a shell
 * that a user lets go on purpose (`nohup oscport start &`) leaves it running.
 *
 * Resolves when the parent is gone; never when not run by npm. `cancel` stops watching.
 */
export function npmParentGone(env: NodeJS.ProcessEnv = process.env): { gone: Promise<void>; cancel(): void } {
  if (env.npm_command === undefined) return { gone: new Promise(() => {}), cancel: () => {} };
  const parent = process.ppid;
  let timer: NodeJS.Timeout | undefined;
  const gone = new Promise<void>((resolve) => {
    timer = setInterval(() => {
      if (process.ppid === parent) return;
      clearInterval(timer);
      resolve();
    }, POLL_MS);
    // The coordinator's sockets keep the process alive; this alone must not.
    timer.unref();
  });
  return { gone, cancel: () => clearInterval(timer) };
}
