import { adminQuery } from './query.js';

/** [PROTOCOL §10] `/coordinator/status ,s id` */
export const handleAdminStatus = adminQuery('admin_status', (hub) => ({ ok: true, status: hub.status() }));
