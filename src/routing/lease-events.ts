import { isEnded } from '../../machines/lease.js';
import { shownState, type Lease } from '../leases/lease.js';
import type { LeaseDirectory } from '../leases/directory.js';
import type { Controllers } from './controllers.js';
import { leaseEvent, trackEvent } from './messages.js';

/**
 * [PROTOCOL §12] Every change of a lease, told to every controller as `/coordinator/lease ,sis
 * tempID port state` (the port it holds, or held last when it ended), and every trackID learnt as
 * `/coordinator/track ,ss tempID trackID`. Nothing is encoded while no controller listens.
 */
export function announceLeases(leases: LeaseDirectory, controllers: Controllers): void {
  leases.on('change', (lease: Lease, _wasState, wasPort: number) => {
    if (controllers.size === 0) return;
    const state = isEnded(lease.state) ? lease.state : shownState(lease);
    controllers.forward(leaseEvent(lease.tempId, lease.port >= 0 ? lease.port : wasPort, state));
  });
  // A lease that lost its track to a newer one is told with an empty trackID.
  leases.on('track', (lease: Lease) => {
    if (controllers.size > 0) controllers.forward(trackEvent(lease.tempId, lease.trackId ?? ''));
  });
}
