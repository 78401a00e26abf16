export { addSettingsOptions } from './commander.js';
export {
  COORDINATOR_SETTINGS,
  DEFAULT_SETTINGS,
  validateSettings,
  type AtlasMeter,
  type AtlasProcessor,
  type AtlasSettings,
  type CoordinatorSettings,
  type LogLevel,
} from './coordinator-settings.js';
export { formatConfig } from './print-config.js';
export { readmeTable } from './readme-table.js';
export { checkSettings, fixedDefaults, resolveSettings, type Layers, type Resolution } from './resolve.js';
export { placeSettings, settingsFor, type Env, type SettingsTable } from './table.js';
export { InvalidValue, list, oneOf, onOff, parseHostPort, parsePort, path, port, portOrOff, portRange, portSeries, portsOf, record, SettingsError, text, wholeNumber, type PortSeries } from './values.js';
