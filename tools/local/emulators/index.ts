import { startRazorpayEmulator } from './razorpay.ts';
import { startStripeEmulator } from './stripe.ts';

/**
 * Both payment provider emulators, and the Worker vars that point at them (the workers test
 * project and `npm run dev`). With `webhookBase`, webhooks are also pushed to
 * `<webhookBase>/v1/payments/webhooks/{stripe,razorpay}`. `stripeEvents`: the Stripe webhook
 * endpoint's enabled events (every type when not given).
 */
export async function startPaymentEmulators(
  opts: { webhookBase?: string; stripePort?: number; razorpayPort?: number; stripeEvents?: readonly string[] } = {},
) {
  const stripe = await startStripeEmulator({
    port: opts.stripePort,
    enabledEvents: opts.stripeEvents,
    secretKey: 'sk_test_agora_emulator',
    webhookSecret: 'whsec_agora_emulator',
    webhookUrl: opts.webhookBase ? `${opts.webhookBase}/v1/payments/webhooks/stripe` : undefined,
  });
  const razorpay = await startRazorpayEmulator({
    port: opts.razorpayPort,
    keyId: 'rzp_test_agora',
    keySecret: 'rzp_secret_agora',
    webhookSecret: 'rzp_whsec_agora',
    webhookUrl: opts.webhookBase ? `${opts.webhookBase}/v1/payments/webhooks/razorpay` : undefined,
  });
  return {
    stripe,
    razorpay,
    provide: {
      stripeApiBase: stripe.url,
      stripeSecretKey: 'sk_test_agora_emulator',
      stripeWebhookSecret: 'whsec_agora_emulator',
      razorpayApiBase: razorpay.url,
      razorpayKeyId: 'rzp_test_agora',
      razorpayKeySecret: 'rzp_secret_agora',
      razorpayWebhookSecret: 'rzp_whsec_agora',
    },
    /** The same, as Worker vars. */
    vars: {
      STRIPE_API_BASE: stripe.url,
      STRIPE_SECRET_KEY: 'sk_test_agora_emulator',
      STRIPE_WEBHOOK_SECRET: 'whsec_agora_emulator',
      RAZORPAY_API_BASE: razorpay.url,
      RAZORPAY_KEY_ID: 'rzp_test_agora',
      RAZORPAY_KEY_SECRET: 'rzp_secret_agora',
      RAZORPAY_WEBHOOK_SECRET: 'rzp_whsec_agora',
    },
    async stop() {
      await stripe.stop();
      await razorpay.stop();
    },
  };
}
