// `npm run readme`: writes the sections of the docs generated from the code, each into the file
// that holds its markers (the settings table, the lease machine's chart).
import { readFileSync, writeFileSync } from 'node:fs';
import { GENERATED_SECTIONS, upToDate } from './readme.js';

// From dist/src/docs/, where the build puts this script.
const ROOT = new URL('../../../', import.meta.url);

for (const file of Object.keys(GENERATED_SECTIONS)) {
  const path = new URL(file, ROOT);
  const before = readFileSync(path, 'utf8');
  const after = upToDate(file, before);
  if (after !== before) writeFileSync(path, after);
  process.stdout.write(`${file}: generated sections ${after === before ? 'already up to date' : 'updated'}\n`);
}
