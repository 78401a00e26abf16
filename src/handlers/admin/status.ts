import { ADMIN_FORMS, adminQuery } from './query.js';

/** [PROTOCOL §10] `/coordinator/status ,s id` */
export const handleAdminStatus = adminQuery(ADMIN_FORMS.status, (hub) => ({ ok: true, status: hub.status() }));
