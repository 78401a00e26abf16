// `npm run settings:readme`: writes the settings table into README.md, between its markers.
import { readFileSync, writeFileSync } from 'node:fs';
import { COORDINATOR_SETTINGS } from './coordinator-settings.js';
import { readmeTable, withReadmeTable } from './readme-table.js';

// From dist/src/settings/, where the build puts this script.
const README = new URL('../../../README.md', import.meta.url);

const before = readFileSync(README, 'utf8');
const after = withReadmeTable(before, readmeTable(COORDINATOR_SETTINGS));
if (after !== before) writeFileSync(README, after);
process.stdout.write(after === before ? 'README.md: settings table already up to date\n' : 'README.md: settings table updated\n');
