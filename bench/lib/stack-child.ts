/**
 * The local-stack process: tools/local/stack.ts (PGlite unless a database URL is given, and
 * the Neon WebSocket/HTTP bridge), away from workerd and the load generator.
 *
 * IPC, parent → child: { type: 'start', databaseUrl?, redisUrl } | { type: 'stop' }
 * child → parent: { type: 'started', stack } | { type: 'failed', error } | { type: 'log', msg } | { type: 'stopped' }
 * Stops by itself when the parent goes away.
 */
import { startLocalStack, type LocalStack } from '../../tools/local/stack.ts';

export type StackRequest = { type: 'start'; databaseUrl?: string; redisUrl: string | false } | { type: 'stop' };
export type StackInfo = Omit<LocalStack, 'stop'>;
export type StackMessage =
  | { type: 'started'; stack: StackInfo }
  | { type: 'failed'; error: string }
  | { type: 'log'; msg: string }
  | { type: 'stopped' };

const send = (m: StackMessage) => {
  if (process.connected) process.send?.(m, undefined, {}, () => {}); // the parent may be gone already
};
let stack: LocalStack | undefined;
let stopping: Promise<void> | undefined;

function stop(): Promise<void> {
  return (stopping ??= (async () => {
    try {
      await stack?.stop();
    } catch (err) {
      send({ type: 'log', msg: `stopping the stack: ${err instanceof Error ? err.message : String(err)}` });
    }
    send({ type: 'stopped' });
    // PGlite and sockets are closed; give the message a moment to leave, then go.
    setTimeout(() => process.exit(0), 100);
  })());
}

process.on('SIGINT', () => {}); // the orchestrator stops us in order
process.on('disconnect', () => void stop());

process.on('message', async (msg: StackRequest) => {
  if (msg.type === 'stop') return void stop();
  if (msg.type !== 'start' || stack) return;
  try {
    stack = await startLocalStack({ databaseUrl: msg.databaseUrl, redisUrl: msg.redisUrl, log: (m) => send({ type: 'log', msg: m }) });
    const { stop: _stop, ...info } = stack;
    send({ type: 'started', stack: info });
  } catch (err) {
    send({ type: 'failed', error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
