import { fileURLToPath } from 'node:url';
import { defineScenario, fixedRate, saturation } from '../lib/scenario.ts';

/**
 * The trivial endpoint: routing, middleware and the request log line, no I/O. Its saturation
 * throughput is the ceiling every other scenario is compared with; its latency at a fixed
 * rate is the floor other fixed-rate runs can be read against.
 */
defineScenario({
  name: 'gateway.livez',
  title: 'trivial GET /livez',
  tags: ['gateway', 'ceiling'],
  ceiling: true,
  request: { path: '/livez' },
  // 500 and 50 rps: the floor of the cart (500 rps) and place-order (50 rps) latency targets.
  runs: [saturation(), fixedRate(1000), fixedRate(500), fixedRate(50)],
});

/** The same answer from a bare module Worker: what workerd + Miniflare allow before any of our code. */
defineScenario({
  name: 'runtime.bare',
  title: 'bare Worker (runtime reference)',
  tags: ['runtime', 'reference'],
  reference: true,
  script: fileURLToPath(new URL('../lib/bare-worker.js', import.meta.url)),
  request: { path: '/' },
  runs: [saturation(), fixedRate(1000), fixedRate(500)],
});
