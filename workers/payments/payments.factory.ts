import type { Config } from '../../shared/env';
import { AppError } from '../../shared/kernel/app-error';
import { OfflineStrategy } from './adapters/offline';
import { RazorpayApi, RazorpayStrategy, type RazorpaySettings } from './adapters/razorpay';
import { createStripeClient, StripeCardStrategy, type StripeSettings } from './adapters/stripe-card';
import type { PaymentStrategy } from './payments.ports';
import type { PaymentMethod } from './payments.schemas';
import { isolateBreaker, realSleep, type BreakerOptions, type Resilience, type RetryPolicy, type Ticker } from './resilience';

/** Payments' slice of the configuration, read once from shared/env.ts. */
export interface PaymentsConfig {
  stripe?: StripeSettings;
  stripeWebhookSecret?: string;
  razorpay?: RazorpaySettings;
  razorpayWebhookSecret?: string;
  retry: { maxRetries: number; baseDelayMs: number; maxDelayMs: number; budgetMs?: number; attemptTimeoutMs?: number };
  breaker: BreakerOptions;
}

export function paymentsConfig(c: Config): PaymentsConfig {
  return {
    ...(c.STRIPE_SECRET_KEY ? { stripe: { secretKey: c.STRIPE_SECRET_KEY, apiBase: c.STRIPE_API_BASE, timeoutMs: c.PAYMENT_TIMEOUT_MS } } : {}),
    ...(c.STRIPE_WEBHOOK_SECRET ? { stripeWebhookSecret: c.STRIPE_WEBHOOK_SECRET } : {}),
    ...(c.RAZORPAY_KEY_ID && c.RAZORPAY_KEY_SECRET
      ? { razorpay: { keyId: c.RAZORPAY_KEY_ID, keySecret: c.RAZORPAY_KEY_SECRET, apiBase: c.RAZORPAY_API_BASE, timeoutMs: c.PAYMENT_TIMEOUT_MS } }
      : {}),
    ...(c.RAZORPAY_WEBHOOK_SECRET ? { razorpayWebhookSecret: c.RAZORPAY_WEBHOOK_SECRET } : {}),
    retry: {
      maxRetries: c.PAYMENT_MAX_RETRIES,
      baseDelayMs: c.PAYMENT_RETRY_BASE_MS,
      maxDelayMs: Math.max(c.PAYMENT_RETRY_BASE_MS, 4000),
      budgetMs: c.PAYMENT_CALL_BUDGET_MS,
      attemptTimeoutMs: c.PAYMENT_TIMEOUT_MS,
    },
    breaker: { threshold: c.PAYMENT_BREAKER_THRESHOLD, cooldownMs: c.PAYMENT_BREAKER_COOLDOWN_MS },
  };
}

/** Time and randomness for retries and breakers; tests inject their own. */
export interface ResilienceEnv {
  ticker: Ticker;
  random: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Where breakers live; default: one per provider account per isolate. */
  breakerFor?: (key: string, opts: BreakerOptions, ticker: Ticker) => Resilience['breaker'];
}

export const realResilienceEnv: ResilienceEnv = { ticker: { nowMs: () => Date.now() }, random: Math.random, sleep: realSleep };

const cache = new Map<string, PaymentStrategy>();

function resilienceFor(key: string, config: PaymentsConfig, env: ResilienceEnv): Resilience {
  const retry: RetryPolicy = { ...config.retry, random: env.random, sleep: env.sleep, nowMs: () => env.ticker.nowMs() };
  return { breaker: (env.breakerFor ?? isolateBreaker)(key, config.breaker, env.ticker), retry };
}

const notConfigured = (provider: string, method: PaymentMethod) =>
  new AppError('DEPENDENCY_UNAVAILABLE', `Payment method ${method} needs ${provider}, which is not configured`);

/**
 * The FACTORY: the strategy for a payment method. CARD → Stripe PaymentIntents; UPI and
 * NETBANKING → Razorpay Orders; COD, POS_CASH, POS_CARD_PRESENT → offline (no provider).
 * Strategies (and the Stripe client) are kept per isolate, keyed by their settings.
 */
export function strategyFor(method: PaymentMethod, config: PaymentsConfig, env: ResilienceEnv = realResilienceEnv): PaymentStrategy {
  switch (method) {
    case 'CARD': {
      const s = config.stripe;
      if (!s) throw notConfigured('Stripe', method);
      const key = `stripe|${s.secretKey}|${s.apiBase ?? ''}|${s.timeoutMs}|${JSON.stringify(config.retry)}`;
      let strategy = env === realResilienceEnv ? cache.get(key) : undefined;
      if (!strategy) {
        strategy = new StripeCardStrategy(createStripeClient(s), resilienceFor(`stripe|${s.apiBase ?? 'live'}|${s.secretKey.slice(-8)}`, config, env));
        if (env === realResilienceEnv) cache.set(key, strategy);
      }
      return strategy;
    }
    case 'UPI':
    case 'NETBANKING': {
      const s = config.razorpay;
      if (!s) throw notConfigured('Razorpay', method);
      const key = `razorpay|${s.keyId}|${s.apiBase ?? ''}|${s.timeoutMs}|${JSON.stringify(config.retry)}`;
      let strategy = env === realResilienceEnv ? cache.get(key) : undefined;
      if (!strategy) {
        strategy = new RazorpayStrategy(new RazorpayApi(s), resilienceFor(`razorpay|${s.apiBase ?? 'live'}|${s.keyId}`, config, env));
        if (env === realResilienceEnv) cache.set(key, strategy);
      }
      return strategy;
    }
    case 'COD':
    case 'POS_CASH':
    case 'POS_CARD_PRESENT':
      return new OfflineStrategy(method);
  }
}
