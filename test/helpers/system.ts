import { execFileSync } from 'node:child_process';

/** Whether this machine has a program on its PATH: tests that need one skip, saying so, where it is missing. */
export function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
