export { startCoordinator, type Coordinator, type CoordinatorOptions, type CoordinatorStats } from './coordinator.js';
export { requestPort, PortRequestError, type PortLease, type RequestPortOptions } from './client.js';
export { DEFAULT_SETTINGS, SettingsError, type CoordinatorSettings } from './core/settings.js';
export { decodeDatagram, encodeMessage, type OscArg, type OscMessage, type DecodedMessage } from './core/codec.js';
export { ADDRESS } from './core/wire.js';
export { portAssignmentMachine } from '../machines/port-assignment.js';
export { createLogger } from './log.js';
