import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from './logging';

/** The lines a logger writes, parsed. */
function capture() {
  const lines: { stream: string; record: Record<string, unknown> }[] = [];
  for (const stream of ['log', 'warn', 'error'] as const) {
    vi.spyOn(console, stream).mockImplementation((line: string) => void lines.push({ stream, record: JSON.parse(line) as Record<string, unknown> }));
  }
  return lines;
}

describe('createLogger', () => {
  afterEach(() => vi.restoreAllMocks());

  it('writes one JSON line with the time, level, message, base and fields', () => {
    const lines = capture();
    createLogger('info', { service: 'gateway' }).log('info', 'request', { status: 201, route: '/v1/carts', nested: { a: [1, 'x'] } });
    expect(lines).toHaveLength(1);
    expect(lines[0]!.stream).toBe('log');
    expect(lines[0]!.record).toMatchObject({ level: 'info', msg: 'request', service: 'gateway', status: 201, route: '/v1/carts', nested: { a: [1, 'x'] } });
    expect(new Date(lines[0]!.record.ts as string).toISOString()).toBe(lines[0]!.record.ts);
  });

  it('leaves out what is below the minimum level and routes warn and error to their streams', () => {
    const lines = capture();
    const logger = createLogger('warn');
    logger.log('info', 'dropped');
    logger.log('warn', 'kept');
    logger.log('error', 'kept too');
    expect(lines.map((l) => [l.stream, l.record.msg])).toEqual([
      ['warn', 'kept'],
      ['error', 'kept too'],
    ]);
  });

  it('spells out an Error at the top level, with its cause', () => {
    const lines = capture();
    createLogger('info').log('error', 'failed', { error: new Error('outer', { cause: new RangeError('inner') }) });
    const error = lines[0]!.record.error as { stack: string };
    expect(error).toMatchObject({ name: 'Error', message: 'outer', cause: { name: 'RangeError', message: 'inner' } });
    expect(error.stack).toContain('outer');
  });

  it('spells out an Error nested in objects and arrays of the fields', () => {
    const lines = capture();
    createLogger('info').log('warn', 'retrying', { context: { attempts: [{ error: new TypeError('deep') }] } });
    expect(lines[0]!.record).toMatchObject({ context: { attempts: [{ error: { name: 'TypeError', message: 'deep' } }] } });
  });
});
