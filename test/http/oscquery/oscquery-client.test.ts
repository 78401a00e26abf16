import { OSCQueryDiscovery } from 'oscquery';
import { afterEach, describe, expect, it } from 'vitest';
import { testCoordinator } from '../../helpers/coordinator.js';
import { ManualPlugin } from '../../helpers/manual-plugin.js';

/** Ports 27100-27149 of RANGES.http (the HTTP helper's tests take 27050-27099). */
const POOL = [27100, 27149] as const;

const plugins: ManualPlugin[] = [];
afterEach(async () => {
  await Promise.all(plugins.splice(0).map((plugin) => plugin.close()));
});

describe('an independent OSCQuery client (npm oscquery) reads the coordinator [PROTOCOL §18]', () => {
  it('fetches HOST_INFO and the namespace, and finds each plugin\'s values', async () => {
    const coordinator = await testCoordinator(POOL, { httpPort: 0 });
    const plugin = await ManualPlugin.verified('AIplayer client', coordinator.port);
    plugins.push(plugin);
    const service = await new OSCQueryDiscovery().queryNewService('127.0.0.1', coordinator.http!.port);
    expect(service.hostInfo).toEqual({
      name: coordinator.studio.name,
      extensions: { ACCESS: true, VALUE: true, RANGE: true, DESCRIPTION: true, UNIT: true, LISTEN: true, PATH_ADDED: true, PATH_REMOVED: true },
      oscIp: '127.0.0.1',
      oscPort: coordinator.port,
      oscTransport: 'UDP',
      wsIp: undefined,
      wsPort: undefined,
    });
    const methods = new Map(service.flat().map((method) => [method.full_path, method]));
    expect(methods.get('/plugins/AIplayer%20client/port')).toMatchObject({ access: 1, arguments: [{ type: 'i', value: plugin.port }] });
    expect(methods.get('/plugins/AIplayer%20client/rms')).toMatchObject({ access: 1, arguments: [{ type: 'f', range: { min: 0, max: 1 } }] });
    expect(methods.get('/aiplayer/request_port')).toMatchObject({ access: 2, arguments: [{ type: 's' }, { type: 'i' }, { type: 'i' }] });
    expect(service.resolvePath('/plugins/AIplayer%20client/state')?.getValue(0)).toBe('bound');
  });
});
