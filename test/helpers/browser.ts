import { existsSync } from 'node:fs';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

/** Debian's chromium (installed by .ci/run), never a downloaded build; CHROMIUM_PATH names another. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** With OSCPORT_REQUIRE_BROWSER=1 (CI) a missing browser fails the browser tests instead of skipping them. */
export const BROWSER_REQUIRED = process.env.OSCPORT_REQUIRE_BROWSER === '1';

export const BROWSER_MISSING = existsSync(CHROMIUM_PATH)
  ? null
  : `no Chromium at ${CHROMIUM_PATH}: install Debian's "chromium" package (apt-get install chromium) or set CHROMIUM_PATH`;

export async function launchChromium(): Promise<Browser> {
  if (BROWSER_MISSING) throw new Error(`OSCPORT_REQUIRE_BROWSER=1, but ${BROWSER_MISSING}`);
  return puppeteer.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--no-first-run'],
  });
}

/**
 * Everything the page complains about: console errors and warnings, uncaught exceptions, failed requests.
 * `stop()` ends the collection (before a test takes the server away on purpose).
 */
export function pageProblems(page: Page): { list: string[]; stop(): void } {
  const list: string[] = [];
  let collecting = true;
  const add = (problem: string) => collecting && list.push(problem);
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warn') add(`console.${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => add(`page error: ${error instanceof Error ? error.message : String(error)}`));
  page.on('requestfailed', (request) => {
    // An event stream the page itself closes (leaving, or a test closing the page) is not a failure.
    if (request.failure()?.errorText !== 'net::ERR_ABORTED') add(`request failed: ${request.url()} ${request.failure()?.errorText}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400) add(`HTTP ${response.status()}: ${response.url()}`);
  });
  return { list, stop: () => (collecting = false) };
}
