import type { TestProject } from 'vitest/node';
import { startTestStack } from './stack-client.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    wsProxy: string;
    sqlEndpoint: string;
    databaseKind: string;
  }
}

/** Starts Postgres (PGlite or a scratch database on DATABASE_URL), migrates and seeds it. */
export default async function setup(project: TestProject) {
  const { info, stop } = await startTestStack(['--seed']);
  project.provide('databaseUrl', info.databaseUrl);
  project.provide('wsProxy', info.wsProxy);
  project.provide('sqlEndpoint', info.sqlEndpoint);
  project.provide('databaseKind', info.kind);
  return stop;
}
