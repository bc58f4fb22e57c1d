/* global Response */
// The runtime's own ceiling: a module Worker that answers like GET /livez with no framework,
// middleware or logging. Served by Miniflare exactly like the Agora build.
const body = JSON.stringify({ status: 'ok' });
export default {
  fetch() {
    return new Response(body, { headers: { 'content-type': 'application/json' } });
  },
};
