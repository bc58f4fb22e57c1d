import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { newId } from '../kernel/ids';
import { EventRegistry, parseEnvelope, UserErased } from './index';

const meta = { correlationId: 'req_test', source: 'test' };

describe('event envelopes', () => {
  const registry = new EventRegistry();
  const Moved = registry.define('stock.moved', 2, z.object({ sku: z.string(), qty: z.number().int() }));

  it('creates a valid envelope with a fresh evt_ id and parses it back, typed', () => {
    const e = Moved.create({ sku: 'sku_1', qty: 3 }, { ...meta, subject: 'sku_1', aggregateVersion: 7, traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` });
    expect(e.id).toMatch(/^evt_[0-9a-z]{26}$/);
    expect(e).toMatchObject({ type: 'stock.moved', version: 2, source: 'test', correlationId: 'req_test', subject: 'sku_1', aggregateVersion: 7 });
    expect(Date.parse(e.occurredAt)).not.toBeNaN();
    const r = registry.parse(JSON.parse(JSON.stringify(e)));
    expect(r.ok).toBe(true);
    if (r.ok && Moved.is(r.event)) expect(r.event.data.qty).toBe(3);
    // a JSON string body is accepted too
    expect(registry.parse(JSON.stringify(e)).ok).toBe(true);
  });

  it('refuses to create an envelope whose data does not match (a producer bug)', () => {
    expect(() => Moved.create({ sku: 'x', qty: 1.5 }, meta)).toThrow();
  });

  it('reports an invalid envelope with what it could read', () => {
    const r = registry.parse({ id: 'nope', type: 'stock.moved', version: 0, occurredAt: 'yesterday', correlationId: '', source: 'x', data: {} });
    expect(r).toMatchObject({ ok: false, reason: 'invalid_envelope', id: 'nope', type: 'stock.moved' });
    if (!r.ok) expect(r.issues.map((i) => i.path)).toEqual(expect.arrayContaining(['id', 'version', 'occurredAt', 'correlationId']));
    expect(registry.parse('not json')).toMatchObject({ ok: false, reason: 'invalid_envelope' });
    expect(registry.parse(null)).toMatchObject({ ok: false, reason: 'invalid_envelope' });
    expect(registry.parse(42)).toMatchObject({ ok: false, reason: 'invalid_envelope' });
  });

  it('reports an unknown type or version', () => {
    const e = Moved.create({ sku: 'a', qty: 1 }, meta);
    expect(registry.parse({ ...e, version: 3 })).toMatchObject({ ok: false, reason: 'unknown_type', type: 'stock.moved' });
    expect(registry.parse({ ...e, type: 'stock.vanished' })).toMatchObject({ ok: false, reason: 'unknown_type' });
  });

  it('reports data that does not match the schema of its (type, version)', () => {
    const e = Moved.create({ sku: 'a', qty: 1 }, meta);
    const r = registry.parse({ ...e, data: { sku: 'a', qty: 'many' } });
    expect(r).toMatchObject({ ok: false, reason: 'invalid_data', id: e.id });
    if (!r.ok) expect(r.issues[0]?.path).toBe('data.qty');
  });

  it('refuses duplicate or malformed definitions', () => {
    expect(() => registry.define('stock.moved', 2, z.object({}))).toThrow(/twice/);
    expect(() => registry.define('Stock', 1, z.object({}))).toThrow(TypeError);
    expect(() => registry.define('stock.moved', 0, z.object({}))).toThrow(TypeError);
  });

  it('knows user.erased@1 in the default registry', () => {
    const e = UserErased.create({ userId: 'usr_x' }, { ...meta, source: 'auth', id: newId('event') });
    const r = parseEnvelope(e);
    expect(r.ok && r.event.data).toEqual({ userId: 'usr_x' });
    expect(parseEnvelope({ ...e, data: {} })).toMatchObject({ ok: false, reason: 'invalid_data' });
  });
});
