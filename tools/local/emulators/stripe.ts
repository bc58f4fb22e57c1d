/**
 * A local Stripe for development and tests: the PaymentIntents and Refunds endpoints Agora
 * calls, form-encoded like the real API, with Stripe-shaped objects and errors, Idempotency-Key
 * replay, test payment methods (pm_card_visa, pm_card_chargeDeclined,
 * pm_card_visa_chargeDeclinedInsufficientFunds, pm_card_authenticationRequired) and webhooks
 * signed like Stripe's (`Stripe-Signature: t=…,v1=HMAC-SHA256(secret, "t.payload")`).
 *
 * Test controls: POST /_emulator/refunds/{id}/succeed|fail (a pending refund settles; with the
 * `pendingRefunds` fault), POST /_emulator/refunds/{id}/reverse (a succeeded refund fails after all:
 * the card was closed, the money back in the merchant's balance; `refund.failed` is sent), POST /_emulator/payment_intents/{id}/succeed|fail (what Stripe.js would do in
 * the browser), POST /_emulator/payment_intents/{id}/processing (the payment on its way: cancel is
 * refused until /succeed or /fail), plus the shared /_emulator/faults, /_emulator/webhooks, /_emulator/requests.
 * Webhooks go out only for the types in `enabledEvents` (a Stripe webhook endpoint's
 * `enabled_events`; every type by default).
 * Run alone: `tsx tools/local/emulators/stripe.ts` (PORT, STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, WEBHOOK_URL,
 * STRIPE_ENABLED_EVENTS: comma-separated).
 */
import { createHash, createHmac } from 'node:crypto';
import { randomId, serveEmulator, type ApiRequest, type ApiResponse, type EmulatorServer } from './common.ts';

export interface StripeEmulatorOptions {
  port?: number;
  host?: string;
  secretKey: string;
  webhookSecret: string;
  /** Where to push webhooks (e.g. http://127.0.0.1:8787/v1/payments/webhooks/stripe). */
  webhookUrl?: string;
  /**
   * The webhook endpoint's `enabled_events`, as configured at Stripe: only events of these types
   * are delivered (`*`, the default, delivers every type).
   */
  enabledEvents?: readonly string[];
}

type Params = Record<string, unknown>;

/** `a[b][c]=1&e[0]=x&e[]=y` → nested objects/arrays, as Stripe decodes them. */
export function decodeForm(body: string | URLSearchParams): Params {
  const out: Params = {};
  const params = typeof body === 'string' ? new URLSearchParams(body) : body;
  for (const [key, value] of params) {
    const parts = key.replace(/\]/g, '').split('[');
    let node: Record<string, unknown> | unknown[] = out;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const last = i === parts.length - 1;
      const nextIsIndex = !last && /^\d*$/.test(parts[i + 1]!);
      if (Array.isArray(node)) {
        const idx = part === '' ? node.length : Number(part);
        if (last) node[idx] = value;
        else node = (node[idx] ??= nextIsIndex ? [] : {}) as Record<string, unknown> | unknown[];
      } else if (last) node[part] = value;
      else node = (node[part] ??= nextIsIndex ? [] : {}) as Record<string, unknown> | unknown[];
    }
  }
  return out;
}

interface PaymentIntent {
  id: string;
  object: 'payment_intent';
  amount: number;
  amount_capturable: number;
  amount_received: number;
  capture_method: 'automatic' | 'automatic_async' | 'manual';
  client_secret: string;
  confirmation_method: 'automatic';
  created: number;
  currency: string;
  description: string | null;
  last_payment_error: null | { type: string; code: string; decline_code?: string; message: string };
  latest_charge: string | null;
  livemode: false;
  metadata: Record<string, string>;
  payment_method: string | null;
  status: 'requires_payment_method' | 'requires_confirmation' | 'requires_action' | 'processing' | 'requires_capture' | 'succeeded' | 'canceled';
  canceled_at: number | null;
  cancellation_reason: string | null;
}

interface Charge {
  id: string;
  object: 'charge';
  amount: number;
  amount_captured: number;
  amount_refunded: number;
  captured: boolean;
  refunded: boolean;
  currency: string;
  payment_intent: string;
  status: 'succeeded' | 'failed';
}

interface Refund {
  id: string;
  object: 'refund';
  amount: number;
  charge: string;
  currency: string;
  payment_intent: string;
  metadata: Record<string, string>;
  reason: string | null;
  status: 'succeeded' | 'pending' | 'failed';
  created: number;
}

const now = () => Math.floor(Date.now() / 1000);

const stripeError = (status: number, error: Record<string, unknown>): ApiResponse => ({ status, body: { error } });
const invalid = (message: string, extra: Record<string, unknown> = {}) => stripeError(400, { type: 'invalid_request_error', message, ...extra });
const missing = (what: string, id: string) =>
  stripeError(404, { type: 'invalid_request_error', code: 'resource_missing', message: `No such ${what}: '${id}'`, param: 'id' });

const DECLINES: Record<string, { code: string; decline_code?: string; message: string }> = {
  pm_card_chargeDeclined: { code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' },
  pm_card_visa_chargeDeclinedInsufficientFunds: { code: 'card_declined', decline_code: 'insufficient_funds', message: 'Your card has insufficient funds.' },
  pm_card_chargeDeclinedExpiredCard: { code: 'expired_card', message: 'Your card has expired.' },
};
const SUCCEEDS = new Set(['pm_card_visa', 'pm_card_mastercard', 'pm_card_amex', 'pm_card_in']);

export async function startStripeEmulator(opts: StripeEmulatorOptions): Promise<EmulatorServer & { intents: Map<string, PaymentIntent> }> {
  const intents = new Map<string, PaymentIntent>();
  const charges = new Map<string, Charge>();
  const refunds = new Map<string, Refund>();
  const idempotency = new Map<string, { fingerprint: string; response: ApiResponse }>();

  const enabled = new Set(opts.enabledEvents ?? ['*']);
  function emit(type: string, object: unknown, idempotencyKey: string | null) {
    if (!enabled.has('*') && !enabled.has(type)) return;
    const event = {
      id: randomId('evt_', 24),
      object: 'event',
      api_version: '2026-10-29.clover',
      created: now(),
      data: { object: structuredClone(object) },
      livemode: false,
      pending_webhooks: 1,
      request: { id: randomId('req_'), idempotency_key: idempotencyKey },
      type,
    };
    const body = JSON.stringify(event, null, 2);
    const t = now();
    const v1 = createHmac('sha256', opts.webhookSecret).update(`${t}.${body}`).digest('hex');
    server.outbox.emit({
      eventId: event.id,
      type,
      path: '/v1/payments/webhooks/stripe',
      headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': `t=${t},v1=${v1}`, 'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)' },
      body,
    });
  }

  const expandCharge = (pi: PaymentIntent, expand: unknown) =>
    Array.isArray(expand) && expand.includes('latest_charge') && pi.latest_charge ? { ...pi, latest_charge: charges.get(pi.latest_charge) } : pi;

  /** Confirms with a test payment method; returns an error response for a decline. */
  function confirm(pi: PaymentIntent, pm: string, key: string | null): ApiResponse | undefined {
    pi.payment_method = pm;
    const decline = server.faults.declineAll ? DECLINES.pm_card_chargeDeclined : DECLINES[pm];
    if (decline) {
      pi.status = 'requires_payment_method';
      pi.last_payment_error = { type: 'card_error', ...decline };
      emit('payment_intent.payment_failed', pi, key);
      return stripeError(402, { type: 'card_error', ...decline, payment_intent: structuredClone(pi), doc_url: `https://stripe.com/docs/error-codes/${decline.code}` });
    }
    if (pm === 'pm_card_authenticationRequired') {
      pi.status = 'requires_action';
      emit('payment_intent.requires_action', pi, key);
      return undefined;
    }
    if (!SUCCEEDS.has(pm)) return missing('PaymentMethod', pm);
    const charge: Charge = {
      id: randomId('ch_', 24),
      object: 'charge',
      amount: pi.amount,
      amount_captured: pi.capture_method === 'manual' ? 0 : pi.amount,
      amount_refunded: 0,
      captured: pi.capture_method !== 'manual',
      refunded: false,
      currency: pi.currency,
      payment_intent: pi.id,
      status: 'succeeded',
    };
    charges.set(charge.id, charge);
    pi.latest_charge = charge.id;
    pi.last_payment_error = null;
    if (pi.capture_method === 'manual') {
      pi.status = 'requires_capture';
      pi.amount_capturable = pi.amount;
      emit('payment_intent.amount_capturable_updated', pi, key);
    } else {
      pi.status = 'succeeded';
      pi.amount_received = pi.amount;
      emit('charge.succeeded', charge, key);
      emit('payment_intent.succeeded', pi, key);
    }
    return undefined;
  }

  async function api(r: ApiRequest): Promise<ApiResponse> {
    const auth = r.headers.authorization ?? '';
    const key = auth.startsWith('Bearer ') ? auth.slice(7) : auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString().split(':')[0] : '';
    if (key !== opts.secretKey) {
      return stripeError(401, { type: 'invalid_request_error', message: `Invalid API Key provided: ${key.slice(0, 8)}…` });
    }
    const params = r.method === 'GET' ? decodeForm(r.query) : decodeForm(r.body);
    const idemKey = r.method === 'POST' ? ((r.headers['idempotency-key'] as string | undefined) ?? null) : null;
    if (idemKey) {
      const fingerprint = createHash('sha256').update(`${r.method} ${r.path} ${r.body}`).digest('hex');
      const seen = idempotency.get(`${key}|${idemKey}`);
      if (seen) {
        if (seen.fingerprint !== fingerprint) {
          return stripeError(400, {
            type: 'idempotency_error',
            message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idemKey}' if you meant to execute a different request.`,
          });
        }
        return { ...seen.response, headers: { ...seen.response.headers, 'idempotent-replayed': 'true', 'idempotency-key': idemKey } };
      }
      const response = route(r, params, idemKey);
      // Stripe does not save results of requests that failed on its side (5xx).
      if (response.status < 500) idempotency.set(`${key}|${idemKey}`, { fingerprint, response: structuredClone(response) });
      return { ...response, headers: { ...response.headers, 'idempotency-key': idemKey } };
    }
    return route(r, params, null);
  }

  function route(r: ApiRequest, p: Params, key: string | null): ApiResponse {
    const m = r.path.match(/^\/v1\/payment_intents(?:\/([^/]+))?(?:\/(confirm|capture|cancel))?$/);
    if (m && r.method === 'GET' && m[1] === 'search') {
      const q = String(p.query ?? '');
      const mm = q.match(/metadata\['([^']+)'\]\s*:\s*'([^']*)'/);
      const data = [...intents.values()].filter((pi) => mm && pi.metadata[mm[1]!] === mm[2]).reverse();
      return { status: 200, body: { object: 'search_result', data, has_more: false, next_page: null, url: '/v1/payment_intents/search' } };
    }
    if (m && !m[1] && r.method === 'POST') {
      const amount = Number(p.amount);
      if (!Number.isInteger(amount) || amount < 1) return invalid('Missing required param: amount.', { param: 'amount', code: 'parameter_missing' });
      if (typeof p.currency !== 'string') return invalid('Missing required param: currency.', { param: 'currency', code: 'parameter_missing' });
      const id = randomId('pi_', 24);
      const pi: PaymentIntent = {
        id,
        object: 'payment_intent',
        amount,
        amount_capturable: 0,
        amount_received: 0,
        capture_method: (p.capture_method as PaymentIntent['capture_method']) ?? 'automatic_async',
        client_secret: `${id}_secret_${randomId('', 24)}`,
        confirmation_method: 'automatic',
        created: now(),
        currency: p.currency.toLowerCase(),
        description: (p.description as string) ?? null,
        last_payment_error: null,
        latest_charge: null,
        livemode: false,
        metadata: (p.metadata as Record<string, string>) ?? {},
        payment_method: null,
        status: p.payment_method ? 'requires_confirmation' : 'requires_payment_method',
        canceled_at: null,
        cancellation_reason: null,
      };
      intents.set(id, pi);
      emit('payment_intent.created', pi, key);
      if (p.confirm === 'true' && typeof p.payment_method === 'string') {
        const declined = confirm(pi, p.payment_method, key);
        if (declined) return declined;
      }
      return { status: 200, body: pi };
    }
    if (m && m[1]) {
      const pi = intents.get(m[1]);
      if (!pi) return missing('payment_intent', m[1]);
      if (!m[2] && r.method === 'GET') return { status: 200, body: expandCharge(pi, p.expand) };
      if (m[2] === 'confirm' && r.method === 'POST') {
        if (!['requires_payment_method', 'requires_confirmation', 'requires_action'].includes(pi.status)) return unexpected(pi, 'confirm');
        const pm = (p.payment_method as string | undefined) ?? pi.payment_method;
        if (!pm) return invalid('You must provide a payment_method to confirm this PaymentIntent.', { code: 'payment_intent_unexpected_state' });
        return confirm(pi, pm, key) ?? { status: 200, body: pi };
      }
      if (m[2] === 'capture' && r.method === 'POST') {
        if (pi.status !== 'requires_capture') return unexpected(pi, 'capture');
        const amount = p.amount_to_capture === undefined ? pi.amount_capturable : Number(p.amount_to_capture);
        if (amount > pi.amount_capturable) return invalid('The amount to capture is greater than the capturable amount.', { param: 'amount_to_capture' });
        pi.status = 'succeeded';
        pi.amount_received = amount;
        pi.amount_capturable = 0;
        const charge = pi.latest_charge ? charges.get(pi.latest_charge) : undefined;
        if (charge) Object.assign(charge, { captured: true, amount_captured: amount });
        emit('payment_intent.succeeded', pi, key);
        return { status: 200, body: pi };
      }
      if (m[2] === 'cancel' && r.method === 'POST') {
        // Stripe cannot cancel an intent whose payment is on its way (`processing`) either.
        if (pi.status === 'succeeded' || pi.status === 'canceled' || pi.status === 'processing') return unexpected(pi, 'cancel');
        pi.status = 'canceled';
        pi.amount_capturable = 0;
        pi.canceled_at = now();
        pi.cancellation_reason = (p.cancellation_reason as string) ?? null;
        emit('payment_intent.canceled', pi, key);
        return { status: 200, body: pi };
      }
    }
    if (r.path === '/v1/refunds' && r.method === 'POST') {
      const piId = p.payment_intent as string | undefined;
      const pi = piId ? intents.get(piId) : undefined;
      if (!pi) return missing('payment_intent', String(piId));
      const charge = pi.latest_charge ? charges.get(pi.latest_charge) : undefined;
      if (pi.status !== 'succeeded' || !charge) {
        return invalid(`This PaymentIntent (${pi.id}) does not have a successful charge to refund.`, { code: 'charge_not_refundable' });
      }
      const amount = p.amount === undefined ? pi.amount_received - charge.amount_refunded : Number(p.amount);
      if (amount > pi.amount_received - charge.amount_refunded) {
        return invalid(`Refund amount (${amount}) is greater than unrefunded amount on charge.`, { code: 'amount_too_large', param: 'amount' });
      }
      const refund: Refund = {
        id: randomId('re_', 24),
        object: 'refund',
        amount,
        charge: charge.id,
        currency: pi.currency,
        payment_intent: pi.id,
        metadata: (p.metadata as Record<string, string>) ?? {},
        reason: (p.reason as string) ?? null,
        status: server.faults.appliesTo(server.faults.pendingRefunds, JSON.stringify(p)) ? 'pending' : 'succeeded',
        created: now(),
      };
      refunds.set(refund.id, refund);
      charge.amount_refunded += amount;
      charge.refunded = charge.amount_refunded >= charge.amount_captured;
      emit('refund.created', refund, key);
      if (refund.status === 'succeeded') emit('charge.refunded', charge, key);
      return { status: 200, body: refund };
    }
    if (r.path.startsWith('/v1/refunds/') && r.method === 'GET') {
      const refund = refunds.get(r.path.slice('/v1/refunds/'.length));
      return refund ? { status: 200, body: refund } : missing('refund', r.path);
    }
    return stripeError(404, { type: 'invalid_request_error', message: `Unrecognized request URL (${r.method}: ${r.path}).` });
  }

  const unexpected = (pi: PaymentIntent, verb: string): ApiResponse =>
    stripeError(400, {
      type: 'invalid_request_error',
      code: 'payment_intent_unexpected_state',
      message: `This PaymentIntent's status is ${pi.status}; you cannot ${verb} it.`,
      payment_intent: structuredClone(pi),
    });

  const server: EmulatorServer = await serveEmulator({
    port: opts.port,
    host: opts.host,
    webhookUrl: opts.webhookUrl,
    errorBody: (status) =>
      status === 429
        ? { error: { type: 'invalid_request_error', code: 'rate_limit', message: 'Too many requests hit the API too quickly.' } }
        : { error: { type: 'api_error', message: 'Something went wrong on Stripe\'s end. (emulated)' } },
    api,
    reset: () => {
      intents.clear();
      charges.clear();
      refunds.clear();
      idempotency.clear();
    },
    async control(r) {
      // A pending refund settles (the bank answered): refund.updated (or refund.failed) is sent.
      const rf = r.path.match(/^\/_emulator\/refunds\/([^/]+)\/(succeed|fail)$/);
      if (rf && r.method === 'POST') {
        const refund = refunds.get(rf[1]!);
        if (!refund) return { status: 404, body: { error: 'no such refund' } };
        if (refund.status !== 'pending') return { status: 409, body: { error: `the refund is ${refund.status}` } };
        refund.status = rf[2] === 'succeed' ? 'succeeded' : 'failed';
        if (refund.status === 'failed') {
          const charge = charges.get(refund.charge);
          if (charge) {
            charge.amount_refunded -= refund.amount;
            charge.refunded = false;
          }
        }
        emit(refund.status === 'failed' ? 'refund.failed' : 'refund.updated', refund, null);
        return { status: 200, body: refund };
      }
      // A refund reported succeeded bounces (the card was closed): Stripe sends refund.failed.
      const rv = r.path.match(/^\/_emulator\/refunds\/([^/]+)\/reverse$/);
      if (rv && r.method === 'POST') {
        const refund = refunds.get(rv[1]!);
        if (!refund) return { status: 404, body: { error: 'no such refund' } };
        if (refund.status !== 'succeeded') return { status: 409, body: { error: `the refund is ${refund.status}` } };
        refund.status = 'failed';
        const charge = charges.get(refund.charge);
        if (charge) {
          charge.amount_refunded -= refund.amount;
          charge.refunded = false;
        }
        emit('refund.failed', refund, null);
        return { status: 200, body: refund };
      }
      // The payment is on its way (a bank debit, a slow card network): `processing`, which Stripe
      // refuses to cancel; /succeed or /fail settles it later.
      const pr = r.path.match(/^\/_emulator\/payment_intents\/([^/]+)\/processing$/);
      if (pr && r.method === 'POST') {
        const pi = intents.get(pr[1]!);
        if (!pi) return { status: 404, body: { error: 'no such payment_intent' } };
        if (!['requires_payment_method', 'requires_confirmation', 'requires_action'].includes(pi.status)) return { status: 409, body: { error: `the payment_intent is ${pi.status}` } };
        pi.status = 'processing';
        pi.last_payment_error = null;
        emit('payment_intent.processing', pi, null);
        return { status: 200, body: pi };
      }
      const m = r.path.match(/^\/_emulator\/payment_intents\/([^/]+)\/(succeed|fail)$/);
      if (!m || r.method !== 'POST') return undefined;
      const pi = intents.get(m[1]!);
      if (!pi) return { status: 404, body: { error: 'no such payment_intent' } };
      confirm(pi, m[2] === 'succeed' ? 'pm_card_visa' : 'pm_card_chargeDeclined', null);
      return { status: 200, body: pi };
    },
  });
  return Object.assign(server, { intents });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const e = await startStripeEmulator({
    port: Number(process.env.PORT ?? 12111),
    secretKey: process.env.STRIPE_SECRET_KEY ?? 'sk_test_emulator',
    webhookSecret: process.env.STRIPE_WEBHOOK_SECRET ?? 'whsec_emulator',
    webhookUrl: process.env.WEBHOOK_URL,
    enabledEvents: process.env.STRIPE_ENABLED_EVENTS?.split(',').filter(Boolean),
  });
  console.log(`stripe emulator on ${e.url}`);
}
