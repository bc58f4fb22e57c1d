import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface TestStackInfo {
  databaseUrl: string;
  wsProxy: string;
  sqlEndpoint: string;
  upstash: { url: string; token: string } | null;
  kind: 'pglite' | 'postgres';
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Starts test/stack-process.ts and resolves with its addresses and a stop function. */
export function startTestStack(flags: ('--seed' | '--redis')[]): Promise<{ info: TestStackInfo; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [`${ROOT}node_modules/tsx/dist/cli.mjs`, `${ROOT}test/stack-process.ts`, ...flags], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
    env: process.env,
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      child.stdout!.off('data', onData);
      try {
        const info = JSON.parse(out.slice(0, nl)) as TestStackInfo;
        resolve({
          info,
          stop: () =>
            new Promise<void>((done) => {
              if (child.exitCode !== null) return done();
              child.once('exit', () => done());
              child.kill('SIGTERM');
            }),
        });
      } catch (err) {
        reject(new Error(`test stack printed something unexpected: ${out}`, { cause: err }));
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`test stack exited early with code ${code}`)));
  });
}
