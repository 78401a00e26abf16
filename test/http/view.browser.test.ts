import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../src/main.js';
import { startAtlasSimulator } from '../../src/simulators/atlas/simulator.js';
import { BROWSER_MISSING, BROWSER_REQUIRED, launchChromium, pageProblems } from '../helpers/browser.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { ManualPlugin } from '../helpers/manual-plugin.js';
import { Peer, f, s } from '../helpers/peer.js';
import { freeUdpPort } from '../helpers/ports.js';

/** The little of the page's DOM these tests read: the project compiles without lib.dom, and these run in the page. */
interface PageElement {
  readonly textContent: string | null;
  getAttribute(name: string): string | null;
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement>;
}
declare const document: PageElement;

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Every run leaves its screenshot here; OSCPORT_UPDATE_SCREENSHOT=1 also copies it to the README's. */
const ARTIFACT = join(root, 'test', 'artifacts', 'web-view.png');
const README_IMAGE = join(root, 'docs', 'images', 'web-view.png');

/** Generous: a loaded two-core machine runs a coordinator, a browser and the page's 10 Hz updates at once. */
const WAIT = { timeout: 10_000, polling: 50 };

/** Turns a wait's bare timeout into what the page failed to show. */
const never = (what: string) => (error: unknown) => {
  throw new Error(`the page never showed ${what} (${error instanceof Error ? error.message : String(error)})`);
};

/** A studio's plugins: tempID and the track ChattyChannels gave it (none for the last, still unnamed). */
const DAW = [
  ['AIplayer_kick', 'track-01'],
  ['AIplayer_snare', 'track-02'],
  ['AIplayer_hats', 'track-03'],
  ['AIplayer_bass', 'track-04'],
  ['AIplayer_keys', 'track-05'],
  ['AIplayer_vox_lead', 'track-06'],
  ['AIplayer_vox_bgv', 'track-07'],
  ['AIplayer_fx_return', null],
] as const;

const closers: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

interface Studio {
  coordinator: Coordinator;
  plugins: ManualPlugin[];
  /** The plugins that send telemetry with a level that changes every 50 ms. */
  singing: ManualPlugin[];
  controller: Peer;
}

/** A coordinator with its HTTP server, and a DAW's plugins verified on it; some send telemetry on a timer. */
async function studio(daw: ReadonlyArray<readonly [string, string | null]>, more: Parameters<typeof testCoordinator>[1] = {}): Promise<Studio> {
  const coordinator = await testCoordinator(RANGES.view, { httpPort: 0, ...more });
  const plugins: ManualPlugin[] = [];
  for (const [tempId, trackId] of daw) {
    const plugin = await ManualPlugin.verified(tempId, coordinator.port);
    closers.push(() => plugin.close());
    plugins.push(plugin);
    if (trackId) plugin.sender.send(coordinator.port, '/aiplayer/uuid_assignment_confirmed', s(tempId), s(trackId), s('confirmed'));
  }
  const controller = await Peer.bind();
  closers.push(() => controller.close());
  controller.send(coordinator.port, '/coordinator/subscribe');
  await controller.next('/coordinator/subscribed');

  // Every other plugin sings: its level moves each 50 ms, so each 100 ms levels event carries a new value.
  const singing = plugins.filter((_, index) => index % 2 === 0);
  let tick = 0;
  const timer = setInterval(() => {
    tick++;
    for (const [index, plugin] of singing.entries()) {
      const level = 0.02 + 0.9 * (0.5 + 0.5 * Math.sin(tick / 3 + index * 1.7));
      plugin.sender.send(coordinator.port, '/aiplayer/telemetry', s(plugin.tempId), f(level), f(0), f(0), f(0), f(0));
    }
  }, 50);
  closers.push(() => clearInterval(timer));
  await expect.poll(() => coordinator.studio.snapshot().leases.filter((lease) => lease.trackId !== null).length).toBe(daw.filter(([, track]) => track).length);
  return { coordinator, plugins, singing, controller };
}

async function openView(coordinator: Coordinator, width = 1366, height = 900): Promise<{ page: Page; problems: ReturnType<typeof pageProblems> }> {
  const page = await browser.newPage();
  closers.push(() => page.close());
  const problems = pageProblems(page);
  await page.setViewport({ width, height });
  await page.goto(`${coordinator.http!.url}/view`);
  await page.waitForFunction(() => document.querySelector('[data-link]')?.getAttribute('data-link') === 'live', WAIT).catch(never('the link live'));
  return { page, problems };
}

/** The lease table as a reader sees it: each row's cells, in order. */
function leaseRows(page: Page): Promise<string[][]> {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll('.leases tbody tr[data-temp-id]'), (row) => Array.from(row.querySelectorAll('th, td'), (cell) => (cell.textContent ?? '').trim())),
  );
}

/** A row's level bar: the value it shows and how its fill is drawn. */
function levelBar(page: Page, tempId: string): Promise<{ rms: string | null; fill: string | null } | null> {
  return page.evaluate((id) => {
    const bar = document.querySelector(`tr[data-temp-id="${id}"] [data-rms]`);
    return bar && { rms: bar.getAttribute('data-rms'), fill: bar.querySelector('.fill')?.getAttribute('style') ?? null };
  }, tempId);
}

let browser: Browser;
const skip = BROWSER_MISSING !== null && !BROWSER_REQUIRED;
// Said once, where a skipped run's output shows it (a skipped test's name alone is easy to miss).
if (skip) console.warn(`The web view's browser tests are skipped: ${BROWSER_MISSING}.`);

describe.skipIf(skip)(`the web view in Chromium [PROTOCOL §17]${skip ? ` (skipped: ${BROWSER_MISSING})` : ''}`, () => {
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('shows a simulated DAW live: every plugin bound on its port, moving levels, the pool, the chart, an Atlas meter, the controller', async () => {
    const meterPort = await freeUdpPort();
    const atlas = await startAtlasSimulator({ host: '127.0.0.2', tcpPort: 0, meterPort, rateHz: 20, meters: ['ZoneMeter_0', 'ZoneMeter_1', 'SourceMeter_0'] });
    closers.push(() => atlas.close());
    const { coordinator, plugins, singing, controller } = await studio(DAW, {
      atlas: {
        meterPort,
        meterHost: '127.0.0.1',
        processors: [{ id: 'stage', host: '127.0.0.2', tcpPort: atlas.tcpPort }],
        ...{ reconnectMs: 50, reconnectMaxMs: 200, keepaliveMs: 1000, keepaliveTimeoutMs: 300 },
      },
    });
    for (const param of ['ZoneMeter_0', 'ZoneMeter_1']) controller.send(coordinator.port, '/atlas/subscribe', s(plugins[0]!.tempId), s('stage'), s(param));

    const { page, problems } = await openView(coordinator);

    // Every plugin, on its port, bound, sorted by port.
    await page.waitForFunction(
      (ids: string[]) => ids.every((id) => document.querySelector(`tr[data-temp-id="${id}"]`)?.getAttribute('data-state') === 'bound'),
      WAIT,
      plugins.map((plugin) => plugin.tempId),
    ).catch(never('every plugin bound'));
    const rows = await leaseRows(page);
    const expected = [...plugins].sort((a, b) => a.port - b.port).map((plugin) => [plugin.tempId, String(plugin.port), 'bound']);
    expect(rows.map(([tempId, , port, state]) => [tempId, port, state])).toEqual(expected);
    expect(rows.find(([tempId]) => tempId === 'AIplayer_kick')?.[1]).toBe('track-01');

    // A singing plugin's bar moves between two reads; a silent one has none.
    const kick = singing[0]!.tempId;
    await page.waitForFunction((id) => document.querySelector(`tr[data-temp-id="${id}"] [data-rms]`) !== null, WAIT, kick).catch(never(`a level bar for ${kick}`));
    const before = await levelBar(page, kick);
    await page.waitForFunction(
      (id, earlier) => {
        const bar = document.querySelector(`tr[data-temp-id="${id}"] [data-rms]`);
        return bar !== null && bar.getAttribute('data-rms') !== earlier.rms && bar.querySelector('.fill')?.getAttribute('style') !== earlier.fill;
      },
      WAIT,
      kick,
      before!,
    ).catch(never(`${kick}'s level bar move`));
    expect(await levelBar(page, plugins[1]!.tempId)).toBeNull();
    // And it moves between snapshots (each changes the uptime shown): the 10 Hz levels events are merged in.
    await page.waitForFunction(
      (id) => {
        const store = globalThis as unknown as { levelsBySnapshot?: Record<string, string[]> };
        const uptime = document.querySelector('[data-uptime]')?.getAttribute('data-uptime') ?? '';
        const level = document.querySelector(`tr[data-temp-id="${id}"] [data-rms]`)?.getAttribute('data-rms') ?? '';
        const levels = ((store.levelsBySnapshot ??= {})[uptime] ??= []);
        if (!levels.includes(level)) levels.push(level);
        return levels.length >= 3;
      },
      { timeout: WAIT.timeout, polling: 20 },
      kick,
    ).catch(never(`${kick}'s level move between two snapshots`));

    // The pool: 8 of the 100 ports held, as the coordinator counts them.
    const { pool } = coordinator.studio.snapshot();
    expect(pool).toMatchObject({ size: 100, held: DAW.length });
    const percent = Math.round((pool.held * 100) / pool.size);
    await page.waitForFunction((used) => document.querySelector('.pool-bar')?.getAttribute('data-used-percent') === String(used), WAIT, percent).catch(never(`the pool ${percent} % used`));
    expect(await page.$eval('.pool-percent', (element) => element.textContent)).toContain(`${percent} %`);

    // The chart: the bound box counts every plugin; nothing is left requesting.
    const bound = await page.$eval('g.node[data-state="bound"]', (node) => ({ count: node.getAttribute('data-count'), text: node.textContent, occupied: node.getAttribute('class') }));
    expect(bound).toMatchObject({ count: String(DAW.length), text: expect.stringContaining(String(DAW.length)) });
    expect(bound.occupied).toContain('node-occupied');
    expect(await page.$eval('g.node[data-state="requesting"]', (node) => node.getAttribute('data-count'))).toBe('0');

    // Atlas: the processor connected, a subscribed meter moving; the controller standing.
    await page.waitForFunction(() => document.querySelector('[data-processor="stage"] [data-link]')?.getAttribute('data-link') === 'connected', WAIT).catch(never('the Atlas processor connected'));
    const meter = '[data-processor="stage"] tr[data-param="ZoneMeter_0"] [data-db]';
    await page.waitForFunction((selector) => (document.querySelector(selector)?.getAttribute('data-db') ?? '') !== '', WAIT, meter).catch(never('a reading of the Atlas meter'));
    const reading = await page.$eval(meter, (bar) => bar.getAttribute('data-db'));
    await page.waitForFunction((selector, earlier) => document.querySelector(selector)?.getAttribute('data-db') !== earlier, WAIT, meter, reading).catch(never('the Atlas meter move'));
    // Its rate: counted over whole seconds, so it shows from the second snapshot after the first reading.
    await page.waitForFunction(() => Number(document.querySelector('tr[data-param="ZoneMeter_0"]')?.getAttribute('data-updates')) > 0, WAIT).catch(never('the Atlas meter\'s updates a second'));
    // A controller that subscribed over OSC must renew; only one from the config file is standing.
    const controllers = await page.evaluate(() => Array.from(document.querySelectorAll('.controllers li'), (item) => Array.from(item.querySelectorAll('span'), (part) => part.textContent).join(' ')));
    expect(controllers).toEqual([`127.0.0.1:${controller.socket.address().port} renewing`]);

    mkdirSync(dirname(ARTIFACT), { recursive: true });
    await page.screenshot({ path: ARTIFACT, fullPage: true });
    if (process.env.OSCPORT_UPDATE_SCREENSHOT === '1') {
      mkdirSync(dirname(README_IMAGE), { recursive: true });
      copyFileSync(ARTIFACT, README_IMAGE);
      expect(statSync(README_IMAGE).size).toBeLessThan(200 * 1024);
    }
    expect(problems.list).toEqual([]);
  });

  it('filters the lease table by text (tempID, track or port) and by state', async () => {
    const { coordinator, plugins } = await studio(DAW.slice(0, 4));
    const { page, problems } = await openView(coordinator);
    const shown = () => page.evaluate(() => Array.from(document.querySelectorAll('.leases tbody tr[data-temp-id]'), (row) => row.getAttribute('data-temp-id')));
    const waitForShown = (count: number) =>
      page.waitForFunction((n) => document.querySelectorAll('.leases tbody tr[data-temp-id]').length === n, WAIT, count).catch(never(`${count} rows`));
    await waitForShown(4);

    /** Types into the filter as a user would, replacing what was there. */
    const filterBy = async (text: string) => {
      await page.click('input[name="filter"]', { count: 3 });
      await page.type('input[name="filter"]', text);
    };

    await filterBy('snare');
    await waitForShown(1);
    expect(await shown()).toEqual(['AIplayer_snare']);

    await filterBy(String(plugins[2]!.port));
    await waitForShown(1);
    expect(await shown()).toEqual([plugins[2]!.tempId]);

    await filterBy('TRACK-0');
    await waitForShown(4);

    await page.select('select[name="state"]', 'verifying');
    await waitForShown(0);
    expect(await page.$eval('.leases tbody', (body) => body.textContent)).toContain('No lease matches the filter.');
    await page.select('select[name="state"]', 'bound');
    await waitForShown(4);
    expect(problems.list).toEqual([]);
  });

  it('says it is reconnecting when the coordinator goes away', async () => {
    const { coordinator } = await studio(DAW.slice(0, 1));
    const { page, problems } = await openView(coordinator);
    expect(problems.list).toEqual([]);
    // From here the page's failed reconnections are what the test wants to see.
    problems.stop();
    await coordinator.close();
    await page.waitForFunction(() => document.querySelector('[data-link]')?.getAttribute('data-link') === 'reconnecting', WAIT).catch(never('the link reconnecting'));
    expect(await page.$eval('[data-link]', (element) => element.textContent)).toContain('reconnecting');
  });
});
