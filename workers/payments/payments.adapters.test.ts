/**
 * The adapters through the real clients (the stripe SDK over fetch, Razorpay REST over fetch)
 * against the local emulators: happy paths, declines, idempotency, retries, the breaker.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startRazorpayEmulator } from '../../tools/local/emulators/razorpay.ts';
import { startStripeEmulator } from '../../tools/local/emulators/stripe.ts';
import { newId } from '../../shared/kernel/ids';
import { strategyFor, type PaymentsConfig, type ResilienceEnv } from './payments.factory';
import { makePaymentsService } from './payments.service';
import { CircuitBreaker, PaymentProviderError, PaymentUnavailableError } from './resilience';
import type { BeginPaymentInput } from './payments.schemas';

let stripe: Awaited<ReturnType<typeof startStripeEmulator>>;
let razorpay: Awaited<ReturnType<typeof startRazorpayEmulator>>;
let config: PaymentsConfig;

const testEnv = (): ResilienceEnv & { breakers: Map<string, CircuitBreaker>; sleeps: number[] } => {
  const breakers = new Map<string, CircuitBreaker>();
  const sleeps: number[] = [];
  return {
    ticker: { nowMs: () => Date.now() },
    random: () => 0,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    breakerFor: (key, opts, ticker) => {
      let b = breakers.get(key);
      if (!b) breakers.set(key, (b = new CircuitBreaker(key, opts, ticker)));
      return b;
    },
    breakers,
    sleeps,
  };
};

beforeAll(async () => {
  stripe = await startStripeEmulator({ secretKey: 'sk_test_adapters', webhookSecret: 'whsec_adapters' });
  razorpay = await startRazorpayEmulator({ keyId: 'rzp_test_adapters', keySecret: 'rzp_secret', webhookSecret: 'rzp_whsec' });
  config = {
    stripe: { secretKey: 'sk_test_adapters', apiBase: stripe.url, timeoutMs: 400 },
    razorpay: { keyId: 'rzp_test_adapters', keySecret: 'rzp_secret', apiBase: razorpay.url, timeoutMs: 400 },
    retry: { maxRetries: 3, baseDelayMs: 10, maxDelayMs: 50 },
    breaker: { threshold: 5, cooldownMs: 60_000 },
  };
});

afterAll(async () => {
  await stripe?.stop();
  await razorpay?.stop();
});

beforeEach(() => {
  stripe.faults.reset();
  razorpay.faults.reset();
});

const card = (extra: Partial<BeginPaymentInput> = {}): BeginPaymentInput => ({
  attemptId: newId('paymentAttempt'),
  orderId: newId('order'),
  amount: { amount: 4999, currency: 'USD' },
  method: 'CARD',
  ...extra,
});

const apiCalls = (e: { requests: Array<{ path: string }> }, prefix: string) => e.requests.filter((r) => r.path.startsWith(prefix)).length;

describe('CARD via Stripe PaymentIntents', () => {
  it('begin without a token asks the client to confirm with the client secret; the saga never sees card data', async () => {
    const s = strategyFor('CARD', config, testEnv());
    const input = card();
    const r = await s.begin(input);
    expect(r).toMatchObject({ status: 'requires_action', provider: 'stripe', clientAction: { type: 'stripe_client_secret' } });
    expect(r.providerRef).toMatch(/^pi_/);
    const pi = stripe.intents.get(r.providerRef)!;
    expect(pi).toMatchObject({ amount: 4999, currency: 'usd', capture_method: 'manual', metadata: { attemptId: input.attemptId, orderId: input.orderId } });
  });

  it('authorises with a test token, captures, refunds; capture twice is harmless', async () => {
    const s = strategyFor('CARD', config, testEnv());
    const input = card({ paymentMethodToken: 'pm_card_visa' });
    const begun = await s.begin(input);
    expect(begun.status).toBe('authorized');
    const captured = await s.capture({ attemptId: input.attemptId, method: 'CARD', providerRef: begun.providerRef, amount: input.amount });
    expect(captured.status).toBe('captured');
    const again = await s.capture({ attemptId: input.attemptId, method: 'CARD', providerRef: begun.providerRef, amount: input.amount });
    expect(again.status).toBe('captured');
    const refundId = newId('refund');
    const refund = await s.refund({ refundId, method: 'CARD', providerRef: begun.providerRef, amount: { amount: 1000, currency: 'USD' } });
    expect(refund).toMatchObject({ status: 'succeeded' });
    expect(refund.providerRefundRef).toMatch(/^re_/);
    const sameRefund = await s.refund({ refundId, method: 'CARD', providerRef: begun.providerRef, amount: { amount: 1000, currency: 'USD' } });
    expect(sameRefund.providerRefundRef).toBe(refund.providerRefundRef);
    expect(await s.retrieveRefund(refund.providerRefundRef)).toEqual({ status: 'succeeded', providerRefundRef: refund.providerRefundRef });
    const snap = await s.retrieve(begun.providerRef);
    expect(snap).toMatchObject({ status: 'captured', amountCaptured: 4999, amountRefunded: 1000, attemptId: input.attemptId });
  });

  it('a decline is a failed result with the reason, not an exception, and is not retried', async () => {
    const s = strategyFor('CARD', config, testEnv());
    const before = apiCalls(stripe, '/v1/payment_intents');
    const r = await s.begin(card({ paymentMethodToken: 'pm_card_visa_chargeDeclinedInsufficientFunds' }));
    expect(r).toMatchObject({ status: 'failed', failure: { code: 'card_declined', declineCode: 'insufficient_funds' } });
    expect(r.providerRef).toMatch(/^pi_/);
    expect(apiCalls(stripe, '/v1/payment_intents') - before).toBe(1);
  });

  it('the declineAll switch declines even a good card', async () => {
    stripe.faults.set({ declineAll: true });
    const r = await strategyFor('CARD', config, testEnv()).begin(card({ paymentMethodToken: 'pm_card_visa' }));
    expect(r.status).toBe('failed');
  });

  it('the same attempt id gives one PaymentIntent (idempotency key = attempt id)', async () => {
    const s = strategyFor('CARD', config, testEnv());
    const input = card({ paymentMethodToken: 'pm_card_visa' });
    const count = stripe.intents.size;
    const [a, b] = await Promise.all([s.begin(input), s.begin(input)]).catch(async () => [await s.begin(input), await s.begin(input)]);
    const c = await s.begin(input);
    expect(new Set([a!.providerRef, b!.providerRef, c.providerRef]).size).toBe(1);
    expect(stripe.intents.size - count).toBe(1);
  });

  it('retries 500 and 429 and succeeds', async () => {
    const env = testEnv();
    const s = strategyFor('CARD', config, env);
    stripe.faults.set({ errors: [{ status: 500, times: 1, match: 'POST /v1/payment_intents' }, { status: 429, times: 1, match: 'POST /v1/payment_intents' }] });
    const r = await s.begin(card({ paymentMethodToken: 'pm_card_visa' }));
    expect(r.status).toBe('authorized');
    expect(env.sleeps).toHaveLength(2);
  });

  it('does not retry a 4xx (invalid request)', async () => {
    const env = testEnv();
    const s = strategyFor('CARD', config, env);
    const err = await s.capture({ attemptId: newId('paymentAttempt'), method: 'CARD', providerRef: 'pi_doesnotexist', amount: { amount: 100, currency: 'USD' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PaymentProviderError);
    expect(env.sleeps).toEqual([]);
  });

  it('a timeout after send is retried with the same key: one charge, and the answer is the original', async () => {
    const env = testEnv();
    const s = strategyFor('CARD', config, env);
    const count = stripe.intents.size;
    stripe.faults.set({ delays: [{ ms: 700, times: 1, match: 'POST /v1/payment_intents' }] });
    const r = await s.begin(card({ paymentMethodToken: 'pm_card_visa' }));
    expect(r.status).toBe('authorized');
    expect(env.sleeps).toHaveLength(1);
    expect(stripe.intents.size - count).toBe(1);
  });

  it('timeouts exhaust the retries, open the breaker, then calls fail fast without reaching Stripe', async () => {
    const env = testEnv();
    const s = strategyFor('CARD', { ...config, breaker: { threshold: 4, cooldownMs: 60_000 } }, env);
    stripe.faults.set({ delays: [{ ms: 700, times: 4, match: 'POST /v1/payment_intents' }] });
    const err = await s.begin(card()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PaymentUnavailableError);
    expect(err).toMatchObject({ outcome: 'unknown' });
    const sent = apiCalls(stripe, '/v1/payment_intents');
    const fast = await s.begin(card()).catch((e: unknown) => e);
    expect(fast).toMatchObject({ reason: 'circuit_open', outcome: 'not_sent', code: 'PAYMENT_PROVIDER_UNAVAILABLE' });
    expect(apiCalls(stripe, '/v1/payment_intents')).toBe(sent);
  });

  it('a hung Stripe is tried only as often as the call budget allows (PAYMENT_CALL_BUDGET_MS)', async () => {
    // 400 ms per try, 1,000 ms for the call: after two timed-out tries (800 ms) a third could end
    // past the budget, so it is not started and the step is left to the saga's alarm. The budget's
    // clock counts the tries Stripe received, 400 ms each, so the machine's load cannot move it.
    const before = apiCalls(stripe, '/v1/payment_intents');
    const env = { ...testEnv(), sleep: async () => undefined, ticker: { nowMs: () => (apiCalls(stripe, '/v1/payment_intents') - before) * 400 } };
    const s = strategyFor('CARD', { ...config, retry: { ...config.retry, budgetMs: 1000, attemptTimeoutMs: 400 }, breaker: { threshold: 10, cooldownMs: 60_000 } }, env);
    stripe.faults.set({ delays: [{ ms: 700, times: 4, match: 'POST /v1/payment_intents' }] });
    const err = await s.begin(card()).catch((e: unknown) => e);
    expect(err).toMatchObject({ reason: 'retries_exhausted', outcome: 'unknown' });
    expect(apiCalls(stripe, '/v1/payment_intents') - before).toBe(2);
  });

  it('reconciliation settles an attempt whose begin timed out, by providerRef or by attempt id', async () => {
    const env = testEnv();
    const service = makePaymentsService({
      config,
      store: () => {
        throw new Error('not used');
      },
      sink: { deliver: async () => undefined },
      clock: { now: () => new Date() },
      resilience: env,
    });
    const input = card({ paymentMethodToken: 'pm_card_visa' });
    const begun = await service.begin(input);
    const lost = card();
    const out = await service.reconcile([{ begin: input, providerRef: begun.providerRef }, { begin: input }, { begin: lost }]);
    expect(out[0]).toMatchObject({ outcome: 'settled', payment: { status: 'authorized', providerRef: begun.providerRef } });
    expect(out[1]).toMatchObject({ outcome: 'settled', payment: { providerRef: begun.providerRef } });
    expect(out[2]).toEqual({ attemptId: lost.attemptId, outcome: 'not_found' });
  });
});

describe('UPI / NETBANKING via Razorpay Orders', () => {
  const upi = (): BeginPaymentInput => ({
    attemptId: newId('paymentAttempt'),
    orderId: newId('order'),
    amount: { amount: 399900, currency: 'INR' },
    method: 'UPI',
  });

  it('begin creates one order per attempt (receipt = attempt id) and hands the client a checkout action', async () => {
    const s = strategyFor('UPI', config, testEnv());
    const input = upi();
    const r = await s.begin(input);
    expect(r).toMatchObject({ status: 'requires_action', provider: 'razorpay', clientAction: { type: 'razorpay_order', keyId: 'rzp_test_adapters', amount: 399900, currency: 'INR' } });
    const again = await s.begin(input);
    expect(again.providerRef).toBe(r.providerRef);
    expect([...razorpay.orders.values()].filter((o) => o.receipt === input.attemptId)).toHaveLength(1);
  });

  it('a create that timed out after it was processed is found by the retry, not repeated', async () => {
    const env = testEnv();
    const s = strategyFor('NETBANKING', config, env);
    const input = { ...upi(), method: 'NETBANKING' as const };
    razorpay.faults.set({ delays: [{ ms: 700, times: 1, match: 'POST /v1/orders' }] });
    const r = await s.begin(input);
    expect(r.status).toBe('requires_action');
    expect(env.sleeps).toHaveLength(1);
    expect([...razorpay.orders.values()].filter((o) => o.receipt === input.attemptId)).toHaveLength(1);
  });

  it('pay (authorized) → capture → refund, with the refund idempotent by refund id', async () => {
    const s = strategyFor('UPI', config, testEnv());
    const input = upi();
    const r = await s.begin(input);
    await fetch(`${razorpay.url}/_emulator/orders/${r.providerRef}/pay`, { method: 'POST', body: JSON.stringify({ method: 'upi', outcome: 'authorized' }) });
    expect((await s.retrieve(r.providerRef)).status).toBe('authorized');
    const captured = await s.capture({ attemptId: input.attemptId, method: 'UPI', providerRef: r.providerRef, amount: input.amount });
    expect(captured.status).toBe('captured');
    expect((await s.capture({ attemptId: input.attemptId, method: 'UPI', providerRef: r.providerRef, amount: input.amount })).status).toBe('captured');
    const refundId = newId('refund');
    const refund = await s.refund({ refundId, method: 'UPI', providerRef: r.providerRef, amount: { amount: 100000, currency: 'INR' } });
    expect(refund.status).toBe('succeeded');
    const same = await s.refund({ refundId, method: 'UPI', providerRef: r.providerRef, amount: { amount: 100000, currency: 'INR' } });
    expect(same.providerRefundRef).toBe(refund.providerRefundRef);
    // Reconciliation reads a refund back by the provider's id.
    expect(await s.retrieveRefund(refund.providerRefundRef)).toEqual({ status: 'succeeded', providerRefundRef: refund.providerRefundRef });
    expect(await s.retrieve(r.providerRef)).toMatchObject({ status: 'captured', amountCaptured: 399900, amountRefunded: 100000, attemptId: input.attemptId });
  });

  it('a failed UPI payment reads as failed with the bank reason', async () => {
    const s = strategyFor('UPI', config, testEnv());
    const r = await s.begin(upi());
    await fetch(`${razorpay.url}/_emulator/orders/${r.providerRef}/pay`, { method: 'POST', body: JSON.stringify({ outcome: 'failed' }) });
    expect(await s.retrieve(r.providerRef)).toMatchObject({ status: 'failed', failure: { code: 'payment_declined' } });
  });

  it('retries 503 and 429; 4xx is not retried; reconciliation finds the order by receipt', async () => {
    const env = testEnv();
    const s = strategyFor('UPI', config, env);
    razorpay.faults.set({ errors: [{ status: 503, times: 1 }, { status: 429, times: 1 }] });
    const input = upi();
    const r = await s.begin(input);
    expect(env.sleeps).toHaveLength(2);
    const bad = await s.retrieve('order_doesnotexist').catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(PaymentProviderError);
    expect(env.sleeps).toHaveLength(2);
    expect(await s.locate(input.attemptId)).toMatchObject({ providerRef: r.providerRef, status: 'requires_action' });
  });

  it('wrong credentials are a provider error, not retried', async () => {
    const env = testEnv();
    const s = strategyFor('UPI', { ...config, razorpay: { ...config.razorpay!, keySecret: 'wrong' } }, env);
    await expect(s.begin(upi())).rejects.toBeInstanceOf(PaymentProviderError);
    expect(env.sleeps).toEqual([]);
  });
});

describe('offline methods', () => {
  it('COD is pending until delivery; POS is captured at the till', async () => {
    const attemptId = newId('paymentAttempt');
    const base = { attemptId, orderId: newId('order'), amount: { amount: 1000, currency: 'INR' } };
    expect(await strategyFor('COD', config).begin({ ...base, method: 'COD' })).toEqual({ status: 'pending', provider: 'offline', providerRef: attemptId });
    expect((await strategyFor('COD', config).capture({ attemptId, method: 'COD', providerRef: attemptId, amount: base.amount })).status).toBe('captured');
    expect((await strategyFor('POS_CASH', config).begin({ ...base, method: 'POS_CASH' })).status).toBe('captured');
    expect((await strategyFor('POS_CARD_PRESENT', config).refund({ refundId: newId('refund'), method: 'POS_CARD_PRESENT', providerRef: attemptId, amount: base.amount })).status).toBe('succeeded');
  });

  it('a method whose provider is not configured is a 503 DEPENDENCY_UNAVAILABLE', () => {
    expect(() => strategyFor('CARD', { ...config, stripe: undefined })).toThrow(expect.objectContaining({ code: 'DEPENDENCY_UNAVAILABLE' }));
  });
});
