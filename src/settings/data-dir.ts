import path from 'node:path';

const APP_DIR = 'oscport';

/** Where leases live unless --data-dir says otherwise. Pure: everything comes in as arguments. */
export function defaultDataDir(env: NodeJS.ProcessEnv, platform: NodeJS.Platform, home: string): string {
  // path.win32 / path.posix rather than path itself, so every platform's answer can be tested on any.
  if (platform === 'win32') {
    const local = env.LOCALAPPDATA;
    return local && path.win32.isAbsolute(local) ? path.win32.join(local, APP_DIR) : path.win32.join(home, 'AppData', 'Local', APP_DIR);
  }
  if (platform === 'darwin') return path.posix.join(home, 'Library', 'Application Support', APP_DIR);
  // XDG Base Directory spec: a relative value is invalid and must be ignored.
  const state = env.XDG_STATE_HOME;
  return state && path.posix.isAbsolute(state) ? path.posix.join(state, APP_DIR) : path.posix.join(home, '.local', 'state', APP_DIR);
}
