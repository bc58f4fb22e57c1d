import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseEnvelope } from '../../shared/events';
import { bearer, newCustomer } from '../../test/support/auth';
import { call } from '../../test/support/http';

/** The first real use of the event bus: identity publishes user.erased after an erasure commits. */
afterEach(() => vi.restoreAllMocks());

const erase = (token: string, password: string) =>
  call('/v1/me', {
    method: 'DELETE',
    headers: { ...bearer(token), 'content-type': 'application/json', 'x-request-id': `req-erase-${crypto.randomUUID()}` },
    body: JSON.stringify({ password }),
  });

describe('DELETE /v1/me publishes user.erased', () => {
  it('sends one valid user.erased@1 envelope carrying the request id', async () => {
    const s = await newCustomer();
    const sent = vi.spyOn(env.EVENTS, 'sendBatch');
    const res = await erase(s.accessToken, s.password);
    expect(res.status).toBe(204);
    expect(sent).toHaveBeenCalledTimes(1);
    const [message] = [...sent.mock.calls[0]![0]];
    expect(message!.contentType).toBe('json');
    const parsed = parseEnvelope(message!.body);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.event).toMatchObject({ type: 'user.erased', version: 1, source: 'auth', subject: s.user.id, data: { userId: s.user.id } });
    expect(parsed.event.correlationId).toBe(res.headers.get('x-request-id'));
  });

  it('still erases (204) when the queue refuses, and publishes nothing for a wrong password', async () => {
    const s = await newCustomer();
    const sent = vi.spyOn(env.EVENTS, 'sendBatch');
    expect((await erase(s.accessToken, 'not my password at all')).status).toBe(403);
    expect(sent).not.toHaveBeenCalled();
    sent.mockRejectedValue(new Error('queue down'));
    expect((await erase(s.accessToken, s.password)).status).toBe(204);
    expect(sent).toHaveBeenCalledTimes(1);
  });
});
