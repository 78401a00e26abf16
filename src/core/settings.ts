// The settings moved to src/settings/; this keeps the old import path working until its importers move.
export {
  DEFAULT_SETTINGS,
  parseHostPort,
  parsePort,
  SettingsError,
  validateSettings,
  type CoordinatorSettings,
  type LogLevel,
} from '../settings/index.js';
