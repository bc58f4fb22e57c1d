import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { UserErased } from '../../shared/events';
import { newId } from '../../shared/kernel/ids';
import { bearer, login } from '../../test/support/auth';
import { json, problem } from '../../test/support/http';
import { rows } from '../../test/support/db';

/** A dead letter as the consumers would have recorded it. */
async function seed(opts: { body?: unknown; type?: string | null; status?: string } = {}) {
  const event = UserErased.create({ userId: `usr_${crypto.randomUUID().slice(0, 8)}` }, { correlationId: 'req_seed', source: 'auth' });
  const body = opts.body ?? event;
  const id = newId('deadLetter');
  const eventId = (body as { id?: string }).id ?? `msg:${crypto.randomUUID()}`;
  const type = opts.type === undefined ? event.type : opts.type;
  await rows(sql`insert into dead_letters (id, queue, event_id, type, body, error, attempts, status)
                 values (${id}, 'agora-events', ${eventId}, ${type}, ${JSON.stringify(body)}::jsonb, 'boom', 6, ${opts.status ?? 'open'})`);
  return { id, eventId, body };
}

let admin: string;
let shopper: string;
beforeAll(async () => {
  admin = (await login('admin@agora.dev')).accessToken;
  shopper = (await login('shopper@agora.dev')).accessToken;
});
afterEach(() => vi.restoreAllMocks());

const post = (token: string) => ({ method: 'POST', headers: bearer(token) });

describe('GET /v1/admin/dead-letters', () => {
  it('needs a token (401) and the events:manage permission (403)', async () => {
    await problem('/v1/admin/dead-letters', 401, 'UNAUTHENTICATED');
    await problem('/v1/admin/dead-letters', 403, 'FORBIDDEN', { headers: bearer(shopper) });
  });

  it('lists newest first, filters by status and type, and pages with a cursor', async () => {
    const type = `test.listed_${crypto.randomUUID().slice(0, 8).replace(/-/g, '')}`;
    const a = await seed({ type, body: { id: newId('event'), type } });
    const b = await seed({ type, body: { id: newId('event'), type } });
    const c = await seed({ type, body: { id: newId('event'), type }, status: 'discarded' });
    const h = { headers: bearer(admin) };
    const all = await json(`/v1/admin/dead-letters?type=${type}`, h);
    expect(all.res.status).toBe(200);
    expect(all.res.headers.get('cache-control')).toBe('no-store');
    expect(all.body.items.map((i: { id: string }) => i.id)).toEqual([c.id, b.id, a.id]);
    expect(all.body.items[2]).toMatchObject({ queue: 'agora-events', eventId: a.eventId, type, status: 'open', error: 'boom', attempts: 6, redrivenAt: null, body: a.body });

    const open = await json(`/v1/admin/dead-letters?type=${type}&status=open&limit=1`, h);
    expect(open.body.items.map((i: { id: string }) => i.id)).toEqual([b.id]);
    expect(open.body.nextCursor).toEqual(expect.any(String));
    const next = await json(`/v1/admin/dead-letters?type=${type}&status=open&limit=1&cursor=${open.body.nextCursor}`, h);
    expect(next.body.items.map((i: { id: string }) => i.id)).toEqual([a.id]);
    expect(next.body.nextCursor).toBeNull();
  });

  it('answers 400 for a bad filter or a cursor of another query', async () => {
    const h = { headers: bearer(admin) };
    const p = await problem('/v1/admin/dead-letters?status=lost&limit=0', 400, 'VALIDATION_FAILED', h);
    expect(p.errors!.map((e) => e.path).sort()).toEqual(['query.limit', 'query.status']);
    await problem('/v1/admin/dead-letters?type=Not%20A%20Type', 400, 'VALIDATION_FAILED', h);
    const page = await json('/v1/admin/dead-letters?limit=1', h);
    if (page.body.nextCursor) await problem(`/v1/admin/dead-letters?limit=1&status=open&cursor=${page.body.nextCursor}`, 400, 'INVALID_CURSOR', h);
    await problem('/v1/admin/dead-letters?cursor=%%%', 400, 'INVALID_CURSOR', h);
  });
});

describe('POST /v1/admin/dead-letters/{id}/redrive', () => {
  it('needs a token and the permission, before anything else', async () => {
    const { id } = await seed();
    await problem(`/v1/admin/dead-letters/${id}/redrive`, 401, 'UNAUTHENTICATED', { method: 'POST' });
    await problem(`/v1/admin/dead-letters/${id}/redrive`, 403, 'FORBIDDEN', post(shopper));
    expect(await rows(sql`select status from dead_letters where id = ${id}`)).toEqual([{ status: 'open' }]);
  });

  it('republishes the stored envelope to EVENTS once, marks it redriven, and is idempotent', async () => {
    const { id, body, eventId } = await seed();
    const sent = vi.spyOn(env.EVENTS, 'sendBatch');
    const { res, body: dl } = await json(`/v1/admin/dead-letters/${id}/redrive`, post(admin));
    expect(res.status).toBe(200);
    expect(dl).toMatchObject({ id, eventId, status: 'redriven', redrivenAt: expect.any(String) });
    expect(sent).toHaveBeenCalledTimes(1);
    expect([...sent.mock.calls[0]![0]]).toEqual([{ body, contentType: 'json' }]);

    const again = await json(`/v1/admin/dead-letters/${id}/redrive`, post(admin));
    expect(again.res.status).toBe(200);
    expect(again.body).toEqual(dl);
    expect(sent).toHaveBeenCalledTimes(1);
    const audit = await rows(sql`select action, actor_id from audit_log where target_id = ${id}`);
    expect(audit).toEqual([{ action: 'events.dead_letter.redriven', actor_id: 'usr_0000000000devadmin00000000' }]);
  });

  it('leaves it open and answers 503 when the queue refuses', async () => {
    const { id } = await seed();
    vi.spyOn(env.EVENTS, 'sendBatch').mockRejectedValue(new Error('queue down'));
    await problem(`/v1/admin/dead-letters/${id}/redrive`, 503, 'DEPENDENCY_UNAVAILABLE', post(admin));
    expect(await rows(sql`select status from dead_letters where id = ${id}`)).toEqual([{ status: 'open' }]);
  });

  it('answers 404 for an unknown id, 400 for a malformed one, 409 when discarded, 422 for a body that is no envelope', async () => {
    await problem(`/v1/admin/dead-letters/${newId('deadLetter')}/redrive`, 404, 'NOT_FOUND', post(admin));
    const bad = await problem('/v1/admin/dead-letters/nope/redrive', 400, 'VALIDATION_FAILED', post(admin));
    expect(bad.errors![0]!.path).toBe('path.id');
    const discarded = await seed({ status: 'discarded' });
    await problem(`/v1/admin/dead-letters/${discarded.id}/redrive`, 409, 'CONFLICT', post(admin));
    const garbage = await seed({ body: { hello: 'world' }, type: null });
    await problem(`/v1/admin/dead-letters/${garbage.id}/redrive`, 422, 'UNPROCESSABLE', post(admin));
    expect(await rows(sql`select status from dead_letters where id = ${garbage.id}`)).toEqual([{ status: 'open' }]);
  });
});

describe('POST /v1/admin/dead-letters/{id}/discard', () => {
  it('discards an open one (idempotent), refuses a redriven one, and is guarded', async () => {
    const { id } = await seed();
    await problem(`/v1/admin/dead-letters/${id}/discard`, 401, 'UNAUTHENTICATED', { method: 'POST' });
    await problem(`/v1/admin/dead-letters/${id}/discard`, 403, 'FORBIDDEN', post(shopper));
    const first = await json(`/v1/admin/dead-letters/${id}/discard`, post(admin));
    expect(first.res.status).toBe(200);
    expect(first.body).toMatchObject({ id, status: 'discarded', redrivenAt: null });
    const again = await json(`/v1/admin/dead-letters/${id}/discard`, post(admin));
    expect(again.body).toEqual(first.body);
    expect(await rows(sql`select action from audit_log where target_id = ${id}`)).toEqual([{ action: 'events.dead_letter.discarded' }]);

    const redriven = await seed({ status: 'redriven' });
    await problem(`/v1/admin/dead-letters/${redriven.id}/discard`, 409, 'CONFLICT', post(admin));
    await problem(`/v1/admin/dead-letters/${newId('deadLetter')}/discard`, 404, 'NOT_FOUND', post(admin));
    await problem('/v1/admin/dead-letters/dlt_short/discard', 400, 'VALIDATION_FAILED', post(admin));
  });
});
