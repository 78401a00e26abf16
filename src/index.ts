export { startCoordinator, type Coordinator, type CoordinatorOptions } from './main.js';
export type { CoordinatorStats } from './status.js';
export { requestPort, PortRequestError, type SdkLease, type RequestPortOptions } from './sdk/request-port.js';
export { DEFAULT_SETTINGS, SettingsError, type CoordinatorSettings } from './settings/index.js';
export { decodeDatagram, encodeMessage, type OscArg, type OscMessage, type DecodedMessage } from './osc/codec.js';
export { ADDRESS } from './osc/contract.js';
export { leaseMachine } from '../machines/lease.js';
export { createLogger } from './log.js';
