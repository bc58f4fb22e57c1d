import { expect } from 'vitest';
import { call } from './http';

/** Helpers of the "at once" route tests (workers/gateway/concurrent-*.routes.test.ts). */

/** One answer: its status, its body (JSON when it parses, else the text), and whether it was marked a replay (`Idempotent-Replayed: true`). */
export type Answer = { status: number; body: any; replayed: boolean };

/** One request; its answer must not be a 5xx. */
export async function answer(path: string, init: RequestInit = {}): Promise<Answer> {
  const res = await call(path, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* keep the text */
  }
  expect(res.status, `${init.method ?? 'GET'} ${path} → ${JSON.stringify(body)}`).toBeLessThan(500);
  return { status: res.status, body, replayed: res.headers.get('idempotent-replayed') === 'true' };
}

/** Every request at once; every answer as (status, body), none a 5xx. */
export function allAtOnce(requests: Array<[string, RequestInit]>): Promise<Answer[]> {
  return Promise.all(requests.map(([path, init]) => answer(path, init)));
}

export const times = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));

/** How many answers were first calls and how many were marked replays of an Idempotency-Key. */
export const firstAndReplays = (answers: Answer[]) => ({ first: answers.filter((a) => a.status === 201 && !a.replayed).length, replays: answers.filter((a) => a.replayed).length });

/** The statuses, sorted (the order the answers arrived in says nothing). */
export const statuses = (answers: { status: number }[]): number[] => answers.map((a) => a.status).sort();
