import type { TestProject } from 'vitest/node';
import { startTestStack } from './stack-client.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    wsProxy: string;
    sqlEndpoint: string;
    databaseKind: string;
    upstashUrl: string;
    upstashToken: string;
  }
}

/**
 * Starts Postgres (PGlite or a scratch database on DATABASE_URL), migrates and seeds it; with
 * REDIS_URL set, also the Upstash REST bridge, so the Worker runs with its Upstash layers.
 */
export default async function setup(project: TestProject) {
  const { info, stop } = await startTestStack(process.env.REDIS_URL ? ['--seed', '--redis'] : ['--seed']);
  project.provide('databaseUrl', info.databaseUrl);
  project.provide('wsProxy', info.wsProxy);
  project.provide('sqlEndpoint', info.sqlEndpoint);
  project.provide('databaseKind', info.kind);
  project.provide('upstashUrl', info.upstash?.url ?? '');
  project.provide('upstashToken', info.upstash?.token ?? '');
  return stop;
}
