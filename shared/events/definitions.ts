import { z } from 'zod';
import { defineEvent } from './envelope';

/**
 * The published language between contexts: every event type and version the platform emits,
 * with the schema of its data. Producers build envelopes with `<Def>.create(data, meta)`;
 * consumers receive them parsed. Changing a schema incompatibly means a new version.
 */

/** identity: a user erased their account (GDPR Art. 17). Contexts holding personal data react. */
export const UserErased = defineEvent('user.erased', 1, z.object({ userId: z.string().min(1).max(64) }));
