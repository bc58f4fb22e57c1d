import { it } from 'vitest';
import { json } from '../../test/support/http';
it('dump', async () => {
  const { body } = await json('/openapi.json');
  const out: Record<string, unknown> = {};
  for (const [p, ops] of Object.entries(body.paths as Record<string, Record<string, any>>)) {
    for (const [m, op] of Object.entries(ops)) out[`${m.toUpperCase()} ${p}`] = Object.keys(op.responses ?? {}).join(',') + ' | headers:' + JSON.stringify(Object.fromEntries(Object.entries(op.responses ?? {}).filter(([, r]: any) => r.headers).map(([s, r]: any) => [s, Object.keys(r.headers)])));
  }
  console.log('OPENAPI-DUMP' + JSON.stringify(out, null, 1));
  console.log('OPENAPI-FULL' + JSON.stringify(body));
});
