import { exports } from 'cloudflare:workers';

/** Calls the real Worker (the gateway's default export) inside workerd. */
export async function call(path: string, init: RequestInit = {}): Promise<Response> {
  return exports.default.fetch(new Request(`https://agora.test${path}`, init));
}

export async function json<T = any>(path: string, init: RequestInit = {}): Promise<{ res: Response; body: T }> {
  const res = await call(path, init);
  const text = await res.text();
  let body: T;
  try {
    body = JSON.parse(text) as T;
  } catch {
    throw new Error(`${init.method ?? 'GET'} ${path} → ${res.status}, not JSON: ${text.slice(0, 200)}`);
  }
  return { res, body };
}

/** Asserts the response is a problem+json with the given status and code, and returns it. */
export async function problem(path: string, status: number, code: string, init: RequestInit = {}) {
  const { res, body } = await json(path, init);
  if (res.status !== status || body.code !== code) {
    throw new Error(`expected ${status} ${code}, got ${res.status} ${JSON.stringify(body)}`);
  }
  if (res.headers.get('content-type') !== 'application/problem+json') {
    throw new Error(`expected application/problem+json, got ${res.headers.get('content-type')}`);
  }
  if (body.requestId !== res.headers.get('x-request-id') || body.status !== status || !body.type || !body.title) {
    throw new Error(`problem body is incomplete: ${JSON.stringify(body)}`);
  }
  return body as { errors?: { path: string; message: string }[]; detail: string; code: string };
}
