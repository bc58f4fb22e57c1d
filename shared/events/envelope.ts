import { z } from 'zod';
import { isId, newId } from '../kernel/ids';

/**
 * The versioned envelope every domain event travels in (docs/events.md). The envelope is
 * validated first; then `data` against the schema registered for its (type, version).
 */
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

export const EventEnvelopeSchema = z.object({
  id: z.string().refine((v) => isId('event', v), 'an event id (evt_…)'),
  /** `<context-or-aggregate>.<past-tense verb>`, e.g. `inventory.updated`, `user.erased`. */
  type: z.string().regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/, 'a dotted lowercase type such as inventory.updated').max(64),
  version: z.number().int().positive(),
  occurredAt: z.iso.datetime({ offset: true }),
  /** The request id of the request (or message) that caused the event. */
  correlationId: z.string().min(1).max(128),
  traceparent: z.string().regex(TRACEPARENT).optional(),
  /** The emitting context, e.g. `auth`. */
  source: z.string().min(1).max(64),
  /** The aggregate the event is about (a user id, a SKU id). */
  subject: z.string().min(1).max(128).optional(),
  /** The emitter's version of the aggregate after the change: projections refuse older ones. */
  aggregateVersion: z.number().int().nonnegative().optional(),
  data: z.unknown(),
});

export type EventEnvelope<T = unknown> = Omit<z.infer<typeof EventEnvelopeSchema>, 'data'> & { data: T };

/** What a producer says about the event beside its data. */
export interface EventMeta {
  correlationId: string;
  source: string;
  traceparent?: string | undefined;
  subject?: string | undefined;
  aggregateVersion?: number | undefined;
  /** Defaults to now. */
  occurredAt?: Date;
  /** Defaults to a fresh `evt_` id. */
  id?: string;
}

export interface EventDefinition<T = unknown> {
  readonly type: string;
  readonly version: number;
  readonly data: z.ZodType<T>;
  /** Its projections order by `aggregateVersion`: an envelope without one is malformed. */
  readonly versioned: boolean;
  /** Builds a valid envelope (throws if `data` does not match the schema: a producer bug). */
  create(data: T, meta: EventMeta): EventEnvelope<T>;
  /** Narrows a parsed envelope to this definition. */
  is(event: EventEnvelope): event is EventEnvelope<T>;
}

export type ParseFailureReason = 'invalid_envelope' | 'unknown_type' | 'invalid_data';

export type ParseResult =
  | { ok: true; event: EventEnvelope; definition: EventDefinition }
  | {
      ok: false;
      reason: ParseFailureReason;
      message: string;
      issues: { path: string; message: string }[];
      /** Whatever of the id and type could be read, for the dead-letter record. */
      id?: string;
      type?: string;
    };

const key = (type: string, version: number) => `${type}@${version}`;

/** A set of known (type, version) definitions. The module's default registry is below. */
export class EventRegistry {
  readonly #defs = new Map<string, EventDefinition>();

  define<S extends z.ZodType>(type: string, version: number, data: S, options: { versioned?: boolean } = {}): EventDefinition<z.output<S>> {
    const head = EventEnvelopeSchema.pick({ type: true, version: true }).safeParse({ type, version });
    if (!head.success) throw new TypeError(`Invalid event definition ${type}@${version}`);
    if (this.#defs.has(key(type, version))) throw new TypeError(`Event ${type}@${version} is defined twice`);
    const def: EventDefinition<z.output<S>> = {
      type,
      version,
      data: data as z.ZodType<z.output<S>>,
      versioned: options.versioned === true,
      create(value, meta) {
        const envelope: EventEnvelope<z.output<S>> = {
          id: meta.id ?? newId('event'),
          type,
          version,
          occurredAt: (meta.occurredAt ?? new Date()).toISOString(),
          correlationId: meta.correlationId,
          source: meta.source,
          data: data.parse(value) as z.output<S>,
        };
        if (meta.traceparent) envelope.traceparent = meta.traceparent;
        if (meta.subject !== undefined) envelope.subject = meta.subject;
        if (meta.aggregateVersion !== undefined) envelope.aggregateVersion = meta.aggregateVersion;
        else if (options.versioned) throw new TypeError(`${type}@${version} needs an aggregateVersion`);
        EventEnvelopeSchema.parse(envelope);
        return envelope;
      },
      is: (event): event is EventEnvelope<z.output<S>> => event.type === type && event.version === version,
    };
    this.#defs.set(key(type, version), def as EventDefinition);
    return def;
  }

  get(type: string, version: number): EventDefinition | undefined {
    return this.#defs.get(key(type, version));
  }

  /** Validates the envelope, then its data for a known (type, version). Never throws. */
  parse(raw: unknown): ParseResult {
    let value = raw;
    if (typeof value === 'string') {
      try {
        value = JSON.parse(value);
      } catch {
        return { ok: false, reason: 'invalid_envelope', message: 'the message body is not JSON', issues: [] };
      }
    }
    const loose = (value ?? {}) as { id?: unknown; type?: unknown };
    const seen = {
      ...(typeof loose.id === 'string' ? { id: loose.id.slice(0, 128) } : {}),
      ...(typeof loose.type === 'string' ? { type: loose.type.slice(0, 64) } : {}),
    };
    const envelope = EventEnvelopeSchema.safeParse(value);
    if (!envelope.success) {
      return { ok: false, reason: 'invalid_envelope', message: 'the message is not a valid event envelope', issues: issuesOf(envelope.error), ...seen };
    }
    if (holdsNul(value)) {
      const issues = [{ path: '', message: 'U+0000 in a string: Postgres text cannot store it' }];
      return { ok: false, reason: 'invalid_envelope', message: 'the message holds U+0000', issues, ...seen };
    }
    const def = this.get(envelope.data.type, envelope.data.version);
    if (!def) {
      return {
        ok: false,
        reason: 'unknown_type',
        message: `unknown event type ${envelope.data.type}@${envelope.data.version}`,
        issues: [],
        ...seen,
      };
    }
    if (def.versioned && envelope.data.aggregateVersion === undefined) {
      const issues = [{ path: 'aggregateVersion', message: `${def.type} events carry the aggregate's version` }];
      return { ok: false, reason: 'invalid_envelope', message: `${def.type}@${def.version} without aggregateVersion`, issues, ...seen };
    }
    const data = def.data.safeParse(envelope.data.data);
    if (!data.success) {
      return { ok: false, reason: 'invalid_data', message: `the data does not match ${def.type}@${def.version}`, issues: issuesOf(data.error, 'data'), ...seen };
    }
    return { ok: true, event: { ...envelope.data, data: data.data }, definition: def };
  }
}

/** Whether a string anywhere in `value` (keys included) holds U+0000. */
export function holdsNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (value === null || typeof value !== 'object' || depth > 64) return false;
  if (Array.isArray(value)) return value.some((v) => holdsNul(v, depth + 1));
  for (const [k, v] of Object.entries(value)) if (k.includes('\u0000') || holdsNul(v, depth + 1)) return true;
  return false;
}

/** `value` with every U+0000 in its strings (keys included) written as the six characters `\u0000`, for Postgres. */
export function withoutNul(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.replaceAll('\u0000', '\\u0000');
  if (value === null || typeof value !== 'object' || depth > 64 || !holdsNul(value)) return value;
  if (Array.isArray(value)) return value.map((v) => withoutNul(v, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.replaceAll('\u0000', '\\u0000'), withoutNul(v, depth + 1)]));
}

function issuesOf(error: z.ZodError, prefix?: string) {
  return error.issues.slice(0, 20).map((i) => ({ path: [prefix, ...i.path.map(String)].filter(Boolean).join('.'), message: i.message }));
}

/** The registry of every event this Worker knows (definitions live in shared/events/definitions.ts). */
export const eventRegistry = new EventRegistry();

export const defineEvent = <S extends z.ZodType>(type: string, version: number, data: S, options?: { versioned?: boolean }) => eventRegistry.define(type, version, data, options);

export const parseEnvelope = (raw: unknown): ParseResult => eventRegistry.parse(raw);
