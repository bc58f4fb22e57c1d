import { connect } from 'node:net';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstashBridge, type UpstashBridge } from './upstash-bridge.ts';

const prefix = `upstash-bridge-test:${process.pid}:${Date.now()}:`;
const key = (name: string) => prefix + name;

let bridge: UpstashBridge;
let redis: Redis;

/** Sends one raw REST request, for what the client hides. */
function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(bridge.url + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${bridge.token}`, ...headers },
    body: JSON.stringify(body),
  });
}

beforeAll(async () => {
  bridge = await startUpstashBridge();
  redis = new Redis({ url: bridge.url, token: bridge.token });
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await bridge.stop();
});

describe('upstash bridge with @upstash/redis', () => {
  it('gets, sets with expiry, deletes and counts', async () => {
    expect(await redis.set(key('s'), 'héllo ✓', { ex: 60 })).toBe('OK');
    expect(await redis.get(key('s'))).toBe('héllo ✓');
    expect(await redis.ttl(key('s'))).toBeGreaterThan(50);
    expect(await redis.incr(key('n'))).toBe(1);
    expect(await redis.incrby(key('n'), 41)).toBe(42);
    expect(await redis.mget(key('s'), key('n'), key('missing'))).toEqual(['héllo ✓', 42, null]);
    expect(await redis.del(key('s'))).toBe(1);
    expect(await redis.get(key('s'))).toBeNull();
  });

  it('round-trips JSON values, hashes and sorted sets in the shapes the client expects', async () => {
    await redis.set(key('json'), { sku: 'kb-1', tags: ['usb'], qty: 2 });
    expect(await redis.get(key('json'))).toEqual({ sku: 'kb-1', tags: ['usb'], qty: 2 });
    await redis.hset(key('h'), { name: 'Keyboard', stock: 3 });
    expect(await redis.hgetall(key('h'))).toEqual({ name: 'Keyboard', stock: 3 });
    await redis.zadd(key('z'), { score: 2, member: 'b' }, { score: 1, member: 'a' });
    expect(await redis.zrange(key('z'), 0, -1, { withScores: true })).toEqual(['a', 1, 'b', 2]);
  });

  it('runs pipelines and transactions', async () => {
    const piped = await redis.pipeline().set(key('p'), 1).incr(key('p')).get(key('p')).exec();
    expect(piped).toEqual(['OK', 2, 2]);
    const multi = await redis.multi().set(key('m'), 'x').append(key('m'), 'y').get(key('m')).exec();
    expect(multi).toEqual(['OK', 2, 'xy']);
    const errors = await redis.pipeline().set(key('e'), 'text').incr(key('e')).exec({ keepErrors: true });
    expect(errors[1]?.error).toMatch(/not an integer/);
  });

  it('scans and evaluates scripts', async () => {
    await redis.set(key('scan:1'), 1);
    await redis.set(key('scan:2'), 2);
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, { match: key('scan:*'), count: 1000 });
      found.push(...keys);
      cursor = String(next);
    } while (cursor !== '0');
    expect(found.sort()).toEqual([key('scan:1'), key('scan:2')]);
    expect(await redis.eval('return {KEYS[1], ARGV[1], 7}', [key('k')], ['v'])).toEqual([key('k'), 'v', 7]);
    const script = redis.createScript<string>(`return redis.call('GET', KEYS[1])`);
    expect(await script.exec([key('scan:1')], [])).toBe(1);
  });

  it('reports command errors', async () => {
    await redis.set(key('text'), 'abc');
    await expect(redis.incr(key('text'))).rejects.toThrow(/not an integer/);
    await expect(redis.multi().set(key('t2'), 1).incr(key('text')).exec()).rejects.toThrow(/not an integer/);
  });
});

describe('upstash bridge protocol', () => {
  it('base64-encodes result strings when asked, and only then', async () => {
    await redis.set(key('b64'), 'é');
    const encoded = await post('/', ['GET', key('b64')], { 'Upstash-Encoding': 'base64' });
    expect(await encoded.json()).toEqual({ result: Buffer.from('é').toString('base64') });
    const plain = await post('/pipeline', [['GET', key('b64')], ['STRLEN', key('b64')]]);
    expect(await plain.json()).toEqual([{ result: 'é' }, { result: 2 }]);
  });

  it('takes commands in the path, a POST body as the last argument', async () => {
    const auth = { authorization: `Bearer ${bridge.token}` };
    const path = `${bridge.url}/set/${encodeURIComponent(key('path'))}`;
    expect(await (await fetch(`${path}/a%2Fb`, { headers: auth })).json()).toEqual({ result: 'OK' });
    expect(await (await fetch(`${bridge.url}/get/${encodeURIComponent(key('path'))}`, { headers: auth })).json()).toEqual({
      result: 'a/b',
    });
    expect(await (await fetch(path, { method: 'POST', headers: auth, body: '{"raw":true}' })).json()).toEqual({ result: 'OK' });
    expect(await redis.get(key('path'))).toEqual({ raw: true });
  });

  it('answers 401 to a wrong token and 400 to bad or connection-changing commands', async () => {
    const wrong = await fetch(bridge.url, { method: 'POST', headers: { authorization: 'Bearer nope' }, body: '["PING"]' });
    expect(wrong.status).toBe(401);
    await expect(new Redis({ url: bridge.url, token: 'nope' }).get(key('x'))).rejects.toThrow(/Unauthorized/);
    for (const body of [['SELECT', '1'], ['SUBSCRIBE', 'c'], { not: 'a command' }, ['NOSUCHCOMMAND']]) {
      const res = await post('/', body);
      expect(res.status).toBe(400);
      expect(await res.json()).toHaveProperty('error');
    }
    // A request target `new URL` rejects must not take the bridge down.
    const odd = await new Promise<string>((resolve, reject) => {
      let response = '';
      const socket = connect(bridge.port, '127.0.0.1', () =>
        socket.end(`GET // HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bridge.token}\r\nConnection: close\r\n\r\n`),
      );
      socket.on('data', (chunk) => (response += chunk));
      socket.on('end', () => resolve(response));
      socket.on('error', reject);
    });
    expect(odd).toMatch(/^HTTP\/1.1 400/);
    expect(await redis.ping()).toBe('PONG');
  });
});
