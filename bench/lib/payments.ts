/**
 * The Stripe emulator of the checkout scenarios (tools/local/emulators/stripe.ts), run inside the
 * orchestrator (its CPU shows as `main`). The Worker is started before a scenario's `setup` knows
 * its address, so the emulator listens on a fixed port (`BENCH_STRIPE_PORT`, default 12121: not
 * `npm run dev`'s 12111) that the Worker's `STRIPE_API_BASE` names from the start
 * (`BENCH_PAYMENT_VARS`, merged into `BENCH_SECRETS` by lib/worker.ts), and `setup` points its
 * webhook pushes at the Worker it was given (`benchStripe(workerUrl)`). Its webhook endpoint is
 * subscribed to the events Agora uses (`STRIPE_WEBHOOK_EVENTS`), as a deployment's is.
 */
import { WebhookOutbox } from '../../tools/local/emulators/common.ts';
import { startStripeEmulator } from '../../tools/local/emulators/stripe.ts';
import { STRIPE_WEBHOOK_EVENTS } from '../../workers/payments/index.ts';

const PORT = Number(process.env.BENCH_STRIPE_PORT ?? 12121);
const SECRET_KEY = 'sk_test_agora_bench';
const WEBHOOK_SECRET = 'whsec_agora_bench';

/** Worker vars that point payments at the bench's Stripe emulator (no Razorpay: CARD only). */
export const BENCH_PAYMENT_VARS: Record<string, string> = {
  STRIPE_API_BASE: `http://127.0.0.1:${PORT}`,
  STRIPE_SECRET_KEY: SECRET_KEY,
  STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
};

type Emulator = Awaited<ReturnType<typeof startStripeEmulator>>;
let running: Promise<Emulator> | undefined;
let sweeper: NodeJS.Timeout | undefined;
/** Outcome of every webhook push (HTTP status or error), over the process's life. */
const pushed: Record<string, number> = {};

/**
 * The emulator (started on first use), its signed webhooks now pushed to `workerUrl`'s
 * `/v1/payments/webhooks/stripe`. Kept for the rest of the process (the orchestrator exits at the end).
 */
export async function benchStripe(workerUrl: URL): Promise<{ url: string; pushes: () => Record<string, number> }> {
  running ??= startStripeEmulator({ port: PORT, secretKey: SECRET_KEY, webhookSecret: WEBHOOK_SECRET, enabledEvents: STRIPE_WEBHOOK_EVENTS }).catch((err: unknown) => {
    running = undefined;
    throw new Error(`The bench's Stripe emulator could not listen on 127.0.0.1:${PORT} (set BENCH_STRIPE_PORT): ${String(err)}`);
  });
  const emulator = await running;
  // A new outbox per Worker (each scenario has its own): pushes go to this one.
  emulator.outbox = new WebhookOutbox(emulator.faults, new URL('/v1/payments/webhooks/stripe', workerUrl).href);
  // The emulator keeps every delivery, push promise, request and intent for tests to inspect;
  // a benchmark makes tens of thousands: drop them as they settle.
  sweeper ??= setInterval(() => {
    const outbox = emulator.outbox;
    void Promise.allSettled(outbox.pushes.splice(0)).then(() => {
      for (const d of outbox.drain()) {
        const k = String(d.pushed ?? 'in flight at sweep').slice(0, 60);
        pushed[k] = (pushed[k] ?? 0) + 1;
      }
    });
    emulator.requests.length = 0;
  }, 1000).unref();
  return { url: emulator.url, pushes: () => ({ ...pushed }) };
}
