import { describe, expect, it } from 'vitest';
import { UserErased } from '../../events';
import { InMemoryEventPublisher } from '../../testing/fakes';
import { MAX_BATCH, QueuePublisher } from './queue-publisher';

const envelopes = (n: number) => Array.from({ length: n }, (_, i) => UserErased.create({ userId: `usr_${i}` }, { correlationId: 'req_1', source: 'test' }));

describe('QueuePublisher', () => {
  it('sends JSON messages in batches of at most 100', async () => {
    const calls: MessageSendRequest[][] = [];
    const queue = { sendBatch: async (m: Iterable<MessageSendRequest>) => void calls.push([...m]) } as unknown as Queue;
    const list = envelopes(MAX_BATCH * 2 + 5);
    await new QueuePublisher(queue).publish(list);
    expect(calls.map((c) => c.length)).toEqual([100, 100, 5]);
    expect(calls.flat().every((m) => m.contentType === 'json')).toBe(true);
    expect(calls.flat().map((m) => m.body)).toEqual(list);
    await new QueuePublisher(queue).publish([]);
    expect(calls).toHaveLength(3);
  });

  it('rejects when the queue does', async () => {
    const queue = { sendBatch: async () => Promise.reject(new Error('queue down')) } as unknown as Queue;
    await expect(new QueuePublisher(queue).publish(envelopes(1))).rejects.toThrow('queue down');
  });
});

describe('InMemoryEventPublisher', () => {
  it('records what was published, or fails on demand', async () => {
    const p = new InMemoryEventPublisher();
    await p.publish(envelopes(2));
    expect(p.ofType('user.erased')).toHaveLength(2);
    p.failWith = new Error('down');
    await expect(p.publish(envelopes(1))).rejects.toThrow('down');
    expect(p.published).toHaveLength(2);
  });
});
