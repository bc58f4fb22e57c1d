import type { Context } from 'hono';
import { AppError } from '../../shared/kernel/app-error';
import { hasNulEscape } from '../../shared/http/nul';
import { zodIssuesToFieldErrors } from '../../shared/http/problem';
import { requestMeta } from '../../shared/http/authorize';
import type { AppEnv } from '../../shared/http/context';
import { createRouter } from '../../shared/http/router';
import { NO_STORE, withHeaders, writeHeaders } from '../../shared/http/response-headers';
import {
  adminListRoute,
  cancelOrderRoute,
  carrierWebhookRoute,
  fulfilRoute,
  getOrderRoute,
  listMyOrdersRoute,
  placeOrderRoute,
  refundRoute,
  trackingRoute,
} from './orders.routes';
import { CarrierUpdateSchema } from './orders.schemas';
import type { OrdersService } from './orders.service';

/** Orders' public surface: the service, its router, the order-events projection. */
export { makeOrdersService, type OrdersDeps, type OrdersService, type CatalogPort, type StockPort, type CartPort } from './orders.service';
export { projectOrderEvent, ORDER_ERASURE_CONSUMER, ORDER_PROJECTION_CONSUMER } from './orders.consumer';
export { makeSagaPorts, type SagaPortDeps } from './orders.saga-ports';

export function ordersRouter(service: (c: Context<AppEnv>) => OrdersService) {
  const app = createRouter();
  app.openapi(placeOrderRoute, async (c) => {
    const r = await service(c).place(c.req.valid('json'), c.req.valid('header')['idempotency-key'], requestMeta(c));
    return withHeaders(c.json(r.order, 201), writeHeaders(r.replayed));
  });
  app.openapi(listMyOrdersRoute, async (c) => withHeaders(c.json(await service(c).listMine(c.req.valid('query'), requestMeta(c)), 200), NO_STORE));
  app.openapi(getOrderRoute, async (c) => withHeaders(c.json(await service(c).get(c.req.valid('param').id, requestMeta(c)), 200), NO_STORE));
  app.openapi(trackingRoute, async (c) => withHeaders(c.json(await service(c).tracking(c.req.valid('param').id, requestMeta(c)), 200), NO_STORE));
  app.openapi(cancelOrderRoute, async (c) => {
    const body = (c.req.valid('json') as { reason?: string } | undefined) ?? {};
    return withHeaders(c.json(await service(c).cancel(c.req.valid('param').id, body.reason, requestMeta(c)), 200), NO_STORE);
  });
  app.openapi(fulfilRoute, async (c) => {
    const r = await service(c).fulfil(c.req.valid('param').id, c.req.valid('json'), c.req.valid('header')['idempotency-key'], requestMeta(c));
    return withHeaders(c.json(r.order, 201), writeHeaders(r.replayed));
  });
  app.openapi(refundRoute, async (c) => {
    const r = await service(c).refund(c.req.valid('param').id, c.req.valid('json'), c.req.valid('header')['idempotency-key'], requestMeta(c));
    return withHeaders(c.json(r.order, 201), writeHeaders(r.replayed));
  });
  app.openapi(adminListRoute, async (c) => withHeaders(c.json(await service(c).adminList(c.req.valid('query')), 200), NO_STORE));
  app.openapi(carrierWebhookRoute, async (c) => {
    const raw = await c.req.text();
    await service(c).verifyCarrierSignature(raw, c.req.valid('header')['x-carrier-signature']);
    // Signed, so it passed no NUL guard: a U+0000 in it cannot reach the Postgres projection.
    if (hasNulEscape(raw)) {
      throw new AppError('VALIDATION_FAILED', 'The carrier update is not valid', { errors: [{ path: 'body', message: 'must not contain the NUL character (U+0000)' }] });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new AppError('MALFORMED_JSON');
    }
    const update = CarrierUpdateSchema.safeParse(parsed);
    if (!update.success) throw new AppError('VALIDATION_FAILED', 'The carrier update is not valid', { errors: zodIssuesToFieldErrors('body', update.error.issues) });
    const r = await service(c).carrierUpdate(c.req.valid('param').carrier, update.data);
    return c.json({ received: true as const, applied: r.applied }, 200);
  });
  return app;
}
