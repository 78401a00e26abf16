import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Anything a test starts without a data directory of its own keeps its leases here, not in the user's.
    env: { OSCPORT_DATA_DIR: mkdtempSync(join(tmpdir(), 'oscport-tests-')) },
  },
});
