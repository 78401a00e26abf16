/**
 * System errors in the user's terms: what ENOENT or EADDRNOTAVAIL means, said in words, so no
 * message the CLI prints leaves its reader to look a code up.
 */
const MEANINGS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  EEXIST: 'a file of that name is in the way',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files',
  EADDRINUSE: 'already in use',
  EADDRNOTAVAIL: 'not an address of this machine',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'the host name cannot be looked up now (DNS is not answering)',
  ECONNREFUSED: 'nothing is listening there',
  ENETUNREACH: 'the network is unreachable',
  EHOSTUNREACH: 'the host is unreachable',
  EINVAL: 'invalid argument',
};

/** The error's code in words ("permission denied"), or its message when the code is not one we know. */
export function describeSystemError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined && MEANINGS[code] !== undefined) return MEANINGS[code];
  return err instanceof Error ? inUserTerms(err.message) : String(err);
}

/**
 * A message that quotes a Node error as Node writes it ("ENOTDIR: not a directory, mkdir '/x/y'")
 * or a bare code ("cannot bind UDP h:1: EACCES"), with each code said in words.
 */
export function inUserTerms(message: string): string {
  return message
    .replace(/\b(E[A-Z_]{3,}): ([^,]+), \w+ '[^']*'(?: -> '[^']*')?/g, (_, code: string, text: string) => MEANINGS[code] ?? text)
    .replace(/\b(E[A-Z_]{3,})\b/g, (code: string) => MEANINGS[code] ?? code);
}
