import { readConfig } from '../../shared/env';
import { createLogger } from '../../shared/http/logging';
import { buildServices } from './services';

/** Unpaid orders untouched this long are reconciled with their provider. */
export const RECONCILE_AFTER_MS = 10 * 60_000;

/**
 * The Worker's cron (wrangler.toml `[triggers]`, every 5 minutes): events in the Postgres outbox
 * the queue has not taken (user.erased) are published again, payment webhooks recorded but
 * not yet handed to the saga are redelivered, unpaid orders ask their provider how the payment
 * stands, and refresh successors kept sealed past their replay grace are forgotten. One
 * structured log line per run.
 */
export async function runScheduled(controller: ScheduledController, env: Env, ctx: ExecutionContext): Promise<void> {
  const config = readConfig(env);
  const logger = createLogger(config.LOG_LEVEL);
  const services = buildServices(env, config, (p) => ctx.waitUntil(p));
  const started = performance.now();
  const fields: Record<string, unknown> = { cron: controller.cron };
  try {
    fields.outbox = await services.auth.relayOutbox();
    fields.webhooks = await services.payments.redeliverPending(100);
    fields.reconciliation = await services.orders.reconcileUnpaid(RECONCILE_AFTER_MS, 100);
    fields.refreshSuccessorsForgotten = await services.auth.forgetStaleRefreshSuccessors();
    logger.log('info', 'scheduled run', { ...fields, durationMs: Math.round(performance.now() - started) });
  } catch (e) {
    logger.log('error', 'scheduled run failed', { ...fields, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
    throw e;
  } finally {
    ctx.waitUntil(services.db.close().catch(() => undefined));
  }
}
