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
    // Nor does one take port 8999 or sweep the response ports 50000-59900 that a file running beside it uses.
    // Nor does an `oscport start` serve HTTP on 8900 or advertise itself over mDNS unless its test says so.
    env: {
      OSCPORT_DATA_DIR: mkdtempSync(join(tmpdir(), 'oscport-tests-')),
      OSCPORT_EXTRA_PORTS: '',
      OSCPORT_SWEEP_PORTS: '',
      OSCPORT_HTTP_PORT: 'off',
      OSCPORT_DNSSD: 'off',
    },
  },
});
