import { it } from 'vitest';
import { call } from '../../test/support/http';
it('dump', async () => {
  const doc = await (await call('/openapi.json')).json();
  console.log('DOCSTART' + JSON.stringify(doc) + 'DOCEND');
});
