/**
 * Points @neondatabase/serverless at the local bridge from Node scripts (migrations,
 * seed, tests), the way the Worker is pointed at it in dev.
 */
import { neonConfig } from '@neondatabase/serverless';
import ws from 'ws';

export function configureNeonForLocal(stack: { wsProxy: string; sqlEndpoint: string }): void {
  neonConfig.webSocketConstructor = ws;
  neonConfig.wsProxy = (host, port) => `${stack.wsProxy}?address=${host}:${port}`;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineTLS = false;
  neonConfig.pipelineConnect = false;
  // Coalescing waits a setTimeout(0) (about 1 ms in Node) before each send: worth it
  // over a network, pure latency on loopback.
  neonConfig.coalesceWrites = false;
  neonConfig.fetchEndpoint = stack.sqlEndpoint;
}
