import { startRazorpayEmulator } from './razorpay.ts';
import { startStripeEmulator } from './stripe.ts';

/** The payment provider emulators for the workers test project, and the bindings that point the Worker at them. */
export async function startPaymentEmulators() {
  const stripe = await startStripeEmulator({ secretKey: 'sk_test_agora_emulator', webhookSecret: 'whsec_agora_emulator' });
  const razorpay = await startRazorpayEmulator({ keyId: 'rzp_test_agora', keySecret: 'rzp_secret_agora', webhookSecret: 'rzp_whsec_agora' });
  return {
    provide: {
      stripeApiBase: stripe.url,
      stripeSecretKey: 'sk_test_agora_emulator',
      stripeWebhookSecret: 'whsec_agora_emulator',
      razorpayApiBase: razorpay.url,
      razorpayKeyId: 'rzp_test_agora',
      razorpayKeySecret: 'rzp_secret_agora',
      razorpayWebhookSecret: 'rzp_whsec_agora',
    },
    async stop() {
      await stripe.stop();
      await razorpay.stop();
    },
  };
}
