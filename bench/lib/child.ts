/** Child processes of the orchestrator: a TypeScript entry run under tsx, talking over IPC. */
import { fork, type ChildProcess } from 'node:child_process';

const TSX = import.meta.resolve('tsx');

export interface Child<In, Out> {
  readonly name: string;
  readonly pid: number;
  readonly process: ChildProcess;
  send(msg: In): void;
  /** Resolves with the first message `pick` accepts; rejects if the child exits first or on timeout. */
  next<T extends Out>(pick: (m: Out) => m is T, timeoutMs: number): Promise<T>;
  on(listener: (m: Out) => void): () => void;
  /** Resolves when the process has exited (kills it after `graceMs`). */
  exited(graceMs?: number): Promise<void>;
}

export function forkTs<In, Out>(name: string, file: string, env: Record<string, string> = {}): Child<In, Out> {
  const proc = fork(file, [], {
    execArgv: ['--import', TSX],
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...env },
  });
  if (proc.pid === undefined) throw new Error(`Could not start the ${name} process`);
  const listeners = new Set<(m: Out) => void>();
  proc.on('message', (m) => {
    for (const l of listeners) l(m as Out);
  });
  let exitCode: number | null | undefined;
  const exit = new Promise<void>((resolve) =>
    proc.once('exit', (code, signal) => {
      exitCode = code ?? (signal ? -1 : 0);
      resolve();
    }),
  );
  proc.on('error', () => {});

  return {
    name,
    pid: proc.pid,
    process: proc,
    send(msg) {
      if (proc.connected) proc.send(msg as object);
    },
    on(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    next(pick, timeoutMs) {
      return new Promise((resolve, reject) => {
        const done = (fn: () => void) => {
          clearTimeout(timer);
          listeners.delete(listener);
          proc.off('exit', onExit);
          fn();
        };
        const listener = (m: Out) => {
          if (pick(m)) done(() => resolve(m));
        };
        const onExit = () => done(() => reject(new Error(`The ${name} process exited (code ${exitCode ?? proc.exitCode})`)));
        const timer = setTimeout(() => done(() => reject(new Error(`Timed out waiting for the ${name} process`))), timeoutMs);
        listeners.add(listener);
        if (exitCode !== undefined) onExit();
        else proc.once('exit', onExit);
      });
    },
    async exited(graceMs = 5000) {
      if (exitCode !== undefined) return;
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
    },
  };
}
