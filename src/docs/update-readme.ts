// `npm run readme`: writes the sections of README.md generated from the code (the settings table, the lease machine's chart).
import { readFileSync, writeFileSync } from 'node:fs';
import { upToDate } from './readme.js';

// From dist/src/docs/, where the build puts this script.
const README = new URL('../../../README.md', import.meta.url);

const before = readFileSync(README, 'utf8');
const after = upToDate(before);
if (after !== before) writeFileSync(README, after);
process.stdout.write(after === before ? 'README.md: generated sections already up to date\n' : 'README.md: generated sections updated\n');
