import type { AnyDb, HttpDb } from '../../shared/db/client';
import { decodeCursor, encodeCursor, fingerprint } from '../../shared/kernel/cursor';
import { findAudit } from './audit.repo';
import type { AuditPage, AuditQuery } from './audit.schemas';

export interface AuditDeps {
  readDb: () => AnyDb | HttpDb;
}

/** Reading the audit trail (writing is `recordAudit` in shared/audit, inside each context's transaction). */
export function makeAuditService(deps: AuditDeps) {
  return {
    async list(q: AuditQuery): Promise<AuditPage> {
      const { limit, cursor, ...filters } = q;
      const fp = fingerprint(filters);
      const after = cursor ? decodeCursor<{ at: string; id: string }>(cursor, fp, { at: 'time', id: 'string' }) : undefined;
      const rows = await findAudit(
        deps.readDb() as AnyDb,
        { ...filters, from: filters.from ? new Date(filters.from) : undefined, to: filters.to ? new Date(filters.to) : undefined },
        limit,
        after ? { at: new Date(after.at), id: after.id } : undefined,
      );
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        items: page.map((r) => ({
          id: r.id,
          occurredAt: r.occurredAt.toISOString(),
          action: r.action,
          outcome: r.outcome,
          actor: { kind: r.actorKind, id: r.actorId },
          target: r.targetKind && r.targetId ? { kind: r.targetKind, id: r.targetId } : null,
          requestId: r.requestId,
          ip: r.ip,
          data: r.data as Record<string, unknown>,
        })),
        nextCursor: rows.length > limit && last ? encodeCursor({ at: last.occurredAt.toISOString(), id: last.id }, fp) : null,
      };
    },
  };
}

export type AuditService = ReturnType<typeof makeAuditService>;
