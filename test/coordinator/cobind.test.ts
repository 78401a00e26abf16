import { afterEach, describe, expect, it } from 'vitest';
import { Client, Server } from 'node-osc';
import { ADDRESS } from '../../src/osc/contract.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { f, i, Peer, s, values } from '../helpers/peer.js';

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/**
 * A plugin instance built on node-osc, whose Server always sets SO_REUSEADDR like
 * JUCE: it can co-bind a port another instance holds, and then receives everything.
 */
async function nodeOscInstance(tempId: string, port: number, coordinatorPort: number) {
  const server = new Server(port, '0.0.0.0');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const client = new Client('127.0.0.1', coordinatorPort);
  closers.push(async () => server.close(), async () => client.close());
  server.on('message', (message: unknown[]) => {
    if (message[0] === ADDRESS.query_rms) {
      void client.send({
        address: ADDRESS.rms_response,
        args: [
          { type: 's', value: String(message[1]) },
          { type: 's', value: tempId },
          { type: 'f', value: 0.5 },
        ],
      });
    }
  });
  return { client, server };
}

describe('co-binding (the JUCE shared-port bug)', () => {
  it('an instance that co-binds another one\'s port is caught by the probe; the requester gets another port', async () => {
    const c = await testCoordinator(RANGES.cobind);
    const response = await Peer.bind();
    closers.push(() => response.close());
    response.send(c.port, ADDRESS.request_port, s('victim'), i(-1), i(response.port));
    const offered = values(await response.next(ADDRESS.port_assignment))[1] as number;

    // The victim binds its port the JUCE way; then an intruder co-binds the same port and takes its traffic.
    const victimSocket = await Peer.bind(offered, { reuseAddr: true, host: '0.0.0.0' });
    closers.push(() => victimSocket.close());
    await nodeOscInstance('intruder', offered, c.port);

    const lost = new Promise((resolve) => c.leases.once('bound', resolve));
    response.send(c.port, ADDRESS.port_confirmed, s('victim'), i(offered), s('bound'));

    // The intruder answered the probe under its own name: the port is credited to it.
    expect(await lost).toMatchObject({ tempId: 'intruder', port: offered });
    expect(c.leases.holderOf(offered)).toBe('intruder');
    expect(c.stats().counters.probeWrongOwner).toBe(1);
    expect(victimSocket.pending()).toEqual([]);

    // The victim is offered a different port, and binding it cleanly succeeds.
    const second = values(await response.next(ADDRESS.port_assignment))[1] as number;
    expect(second).not.toBe(offered);
    const clean = await Peer.bind(second);
    closers.push(() => clean.close());
    response.send(c.port, ADDRESS.port_confirmed, s('victim'), i(second), s('bound'));
    const probe = await clean.next(ADDRESS.query_rms);
    response.send(c.port, ADDRESS.rms_response, s(values(probe)[0] as string), s('victim'), f(0));
    await expect.poll(() => c.leases.view('victim')).toMatchObject({ state: 'bound', port: second });
    expect(c.leases.view('intruder')).toMatchObject({ state: 'bound', port: offered });
  });

  it('a verified port later co-bound by a newcomer moves to the newcomer once the newcomer confirms it', async () => {
    const c = await testCoordinator(RANGES.cobind);
    const first = await Peer.bind();
    closers.push(() => first.close());
    first.send(c.port, ADDRESS.request_port, s('first'), i(-1), i(first.port));
    const port = values(await first.next(ADDRESS.port_assignment))[1] as number;
    await nodeOscInstance('first', port, c.port);
    first.send(c.port, ADDRESS.port_confirmed, s('first'), i(port), s('bound'));
    await expect.poll(() => c.leases.view('first')?.state).toBe('bound');

    // A second instance co-binds the same port and claims it: the probe now reaches the newcomer only.
    await nodeOscInstance('second', port, c.port);
    first.send(c.port, ADDRESS.port_confirmed, s('second'), i(port), s('bound'));
    await expect.poll(() => c.leases.holderOf(port)).toBe('second');
    expect(c.leases.view('second')).toMatchObject({ state: 'bound', port });
    expect(c.leases.view('first')?.port).not.toBe(port);
    expect(c.stats().counters.steals).toBe(1);
  });
});
