import { list, port, record, settingsFor, text, type SettingsTable } from '../../src/settings/index.js';

/**
 * A small table shaped like what comes next: a list-valued flag (a CIDR allow-list) and a
 * nested section with scalars (flag and variable) and a config-only list of records.
 */
export interface Processor {
  id: string;
  host: string;
  tcpPort: number;
}

export interface BridgeSettings {
  meterPort: number;
  meterHost: string;
  processors: Processor[];
}

export interface FixtureSettings {
  port: number;
  controllersAllow: string[];
  bridge: BridgeSettings;
}

const top = settingsFor<FixtureSettings>();
const bridge = settingsFor<BridgeSettings>();

export const processor = record({ id: text('ID'), host: text('ADDR'), tcpPort: port });

export const FIXTURE: SettingsTable<FixtureSettings> = [
  top.setting({ key: 'port', short: '-p', type: port, default: 9001, fills: 'port', description: 'the port' }),
  top.setting({ key: 'controllersAllow', type: list(text('CIDR')), default: ['127.0.0.1/32'], fills: 'controllersAllow', description: 'who may control' }),
  top.section('bridge', [
    bridge.setting({ key: 'meterPort', type: port, default: 3131, fills: 'meterPort', description: 'where meters arrive' }),
    bridge.setting({ key: 'meterHost', type: text('ADDR'), default: '0.0.0.0', fills: 'meterHost', description: 'address meters bind' }),
    bridge.setting({ key: 'processors', type: list(processor), configOnly: true, default: [], fills: 'processors', description: 'processors to reach' }),
  ]),
];

export const FIXTURE_DEFAULTS: FixtureSettings = {
  port: 9001,
  controllersAllow: ['127.0.0.1/32'],
  bridge: { meterPort: 3131, meterHost: '0.0.0.0', processors: [] },
};
