/**
 * A local Razorpay for development and tests: Orders, order payments, capture and refund over
 * JSON with Basic auth (key_id:key_secret), Razorpay-shaped entities and errors, refund
 * idempotency (`X-Refund-Idempotency`), and webhooks signed like Razorpay's
 * (`X-Razorpay-Signature` = hex HMAC-SHA256 of the raw body with the webhook secret,
 * `X-Razorpay-Event-Id`).
 *
 * Test control: POST /_emulator/orders/{id}/pay {"method":"upi"|"netbanking","outcome":"authorized"|"captured"|"failed"}
 * (what Razorpay Checkout would do), plus the shared /_emulator/faults, /_emulator/webhooks, /_emulator/requests.
 * Run alone: `tsx tools/local/emulators/razorpay.ts` (PORT, RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET, RAZORPAY_WEBHOOK_SECRET, WEBHOOK_URL).
 */
import { createHmac } from 'node:crypto';
import { parseJson } from '../http-util.ts';
import { randomId, serveEmulator, type ApiRequest, type ApiResponse, type EmulatorServer } from './common.ts';

export interface RazorpayEmulatorOptions {
  port?: number;
  host?: string;
  keyId: string;
  keySecret: string;
  webhookSecret: string;
  webhookUrl?: string;
}

interface Order {
  id: string;
  entity: 'order';
  amount: number;
  amount_paid: number;
  amount_due: number;
  currency: string;
  receipt: string | null;
  offer_id: null;
  status: 'created' | 'attempted' | 'paid';
  attempts: number;
  notes: Record<string, string> | [];
  created_at: number;
}

interface Payment {
  id: string;
  entity: 'payment';
  amount: number;
  currency: string;
  status: 'created' | 'authorized' | 'captured' | 'refunded' | 'failed';
  order_id: string;
  method: string;
  amount_refunded: number;
  refund_status: null | 'partial' | 'full';
  captured: boolean;
  description: string | null;
  bank: string | null;
  vpa: string | null;
  email: string;
  contact: string;
  notes: Record<string, string> | [];
  fee: number | null;
  tax: number | null;
  error_code: string | null;
  error_description: string | null;
  error_source: string | null;
  error_step: string | null;
  error_reason: string | null;
  created_at: number;
}

interface Refund {
  id: string;
  entity: 'refund';
  amount: number;
  currency: string;
  payment_id: string;
  notes: Record<string, string> | [];
  receipt: string | null;
  status: 'pending' | 'processed' | 'failed';
  speed_processed: 'normal';
  created_at: number;
}

const now = () => Math.floor(Date.now() / 1000);

const rzpError = (status: number, description: string, extra: Record<string, unknown> = {}): ApiResponse => ({
  status,
  body: { error: { code: status >= 500 ? 'SERVER_ERROR' : 'BAD_REQUEST_ERROR', description, source: 'NA', step: 'NA', reason: 'NA', metadata: {}, ...extra } },
});

export async function startRazorpayEmulator(opts: RazorpayEmulatorOptions): Promise<EmulatorServer & { orders: Map<string, Order> }> {
  const orders = new Map<string, Order>();
  const payments = new Map<string, Payment>();
  const refunds = new Map<string, Refund>();
  const refundKeys = new Map<string, { body: string; refund: Refund }>();

  function emit(event: string, entities: { payment?: Payment; order?: Order; refund?: Refund }) {
    const payload: Record<string, { entity: unknown }> = {};
    for (const [k, v] of Object.entries(entities)) if (v) payload[k] = { entity: structuredClone(v) };
    const body = JSON.stringify({ entity: 'event', account_id: 'acc_EmulatorAcct01', event, contains: Object.keys(payload), payload, created_at: now() });
    const eventId = randomId('evt_', 14);
    server.outbox.emit({
      eventId,
      type: event,
      path: '/v1/payments/webhooks/razorpay',
      headers: {
        'content-type': 'application/json',
        'x-razorpay-signature': createHmac('sha256', opts.webhookSecret).update(body).digest('hex'),
        'x-razorpay-event-id': eventId,
      },
      body,
    });
  }

  const collection = <T>(items: T[]) => ({ entity: 'collection', count: items.length, items });
  const orderPayments = (orderId: string) => [...payments.values()].filter((p) => p.order_id === orderId);

  function body(r: ApiRequest): Record<string, unknown> {
    if (!r.body) return {};
    return r.headers['content-type']?.includes('application/json')
      ? (parseJson(r.body) as Record<string, unknown>)
      : Object.fromEntries(new URLSearchParams(r.body));
  }

  function pay(order: Order, method: string, outcome: 'authorized' | 'captured' | 'failed'): Payment {
    const declined = outcome === 'failed' || server.faults.declineAll;
    const notes: Payment['notes'] = Array.isArray(order.notes) ? [] : { ...order.notes };
    const payment: Payment = {
      id: randomId('pay_', 14),
      entity: 'payment',
      amount: order.amount,
      currency: order.currency,
      status: declined ? 'failed' : 'authorized',
      order_id: order.id,
      method,
      amount_refunded: 0,
      refund_status: null,
      captured: false,
      description: null,
      bank: method === 'netbanking' ? 'HDFC' : null,
      vpa: method === 'upi' ? 'success@razorpay' : null,
      email: 'void@razorpay.com',
      contact: '+919000090000',
      notes,
      fee: null,
      tax: null,
      error_code: declined ? 'BAD_REQUEST_ERROR' : null,
      error_description: declined ? 'Payment was declined by the bank (emulated).' : null,
      error_source: declined ? 'bank' : null,
      error_step: declined ? 'payment_authorization' : null,
      error_reason: declined ? 'payment_declined' : null,
      created_at: now(),
    };
    payments.set(payment.id, payment);
    order.attempts++;
    order.status = order.status === 'paid' ? 'paid' : 'attempted';
    if (declined) {
      emit('payment.failed', { payment });
      return payment;
    }
    emit('payment.authorized', { payment });
    if (outcome === 'captured') capture(payment, order);
    return payment;
  }

  function capture(payment: Payment, order: Order) {
    payment.status = 'captured';
    payment.captured = true;
    payment.fee = Math.round(payment.amount * 0.02);
    payment.tax = Math.round(payment.fee * 0.18);
    order.status = 'paid';
    order.amount_paid = payment.amount;
    order.amount_due = 0;
    emit('payment.captured', { payment });
    emit('order.paid', { payment, order });
  }

  async function api(r: ApiRequest): Promise<ApiResponse> {
    const auth = r.headers.authorization ?? '';
    const [id, secret] = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString().split(':') : [];
    if (id !== opts.keyId || secret !== opts.keySecret) return rzpError(401, 'The api key provided is invalid');
    const p = body(r);
    if (r.path === '/v1/orders' && r.method === 'POST') {
      const amount = Number(p.amount);
      if (!Number.isInteger(amount) || amount < 100) return rzpError(400, 'The amount must be at least INR 1.00', { field: 'amount', reason: 'input_validation_failed' });
      if (typeof p.currency !== 'string') return rzpError(400, 'The currency field is required.', { field: 'currency', reason: 'input_validation_failed' });
      if (typeof p.receipt === 'string' && p.receipt.length > 40) return rzpError(400, 'The receipt may not be greater than 40 characters.', { field: 'receipt' });
      const order: Order = {
        id: randomId('order_', 14),
        entity: 'order',
        amount,
        amount_paid: 0,
        amount_due: amount,
        currency: p.currency,
        receipt: (p.receipt as string) ?? null,
        offer_id: null,
        status: 'created',
        attempts: 0,
        notes: (p.notes as Record<string, string>) ?? [],
        created_at: now(),
      };
      orders.set(order.id, order);
      return { status: 200, body: order };
    }
    if (r.path === '/v1/orders' && r.method === 'GET') {
      const receipt = r.query.get('receipt');
      const count = Math.min(100, Number(r.query.get('count') ?? 10));
      const items = [...orders.values()].filter((o) => receipt === null || o.receipt === receipt).reverse().slice(0, count);
      return { status: 200, body: collection(items) };
    }
    let m = r.path.match(/^\/v1\/orders\/([^/]+)(\/payments)?$/);
    if (m && r.method === 'GET') {
      const order = orders.get(m[1]!);
      if (!order) return rzpError(400, 'The id provided does not exist', { reason: 'input_validation_failed' });
      return { status: 200, body: m[2] ? collection(orderPayments(order.id)) : order };
    }
    m = r.path.match(/^\/v1\/payments\/([^/]+)(?:\/(capture|refund))?$/);
    if (m) {
      const payment = payments.get(m[1]!);
      if (!payment) return rzpError(400, 'The id provided does not exist', { reason: 'input_validation_failed' });
      const order = orders.get(payment.order_id)!;
      if (!m[2] && r.method === 'GET') return { status: 200, body: payment };
      if (m[2] === 'capture' && r.method === 'POST') {
        if (payment.status !== 'authorized') return rzpError(400, 'This payment has already been captured', { reason: 'payment_already_captured' });
        if (Number(p.amount) !== payment.amount) return rzpError(400, 'Capture amount must be equal to the amount authorized', { field: 'amount' });
        if (p.currency !== payment.currency) return rzpError(400, 'The currency should be same as the payment currency', { field: 'currency' });
        capture(payment, order);
        return { status: 200, body: payment };
      }
      if (m[2] === 'refund' && r.method === 'POST') {
        const key = r.headers['x-refund-idempotency'] as string | undefined;
        if (key) {
          const seen = refundKeys.get(key);
          if (seen) {
            if (seen.body !== JSON.stringify(p)) return rzpError(400, 'Different request with the same idempotency key has already been processed.');
            return { status: 200, body: seen.refund };
          }
        }
        if (payment.status !== 'captured' && payment.status !== 'refunded') return rzpError(400, 'The payment has not been captured', { reason: 'payment_not_captured' });
        const amount = p.amount === undefined ? payment.amount - payment.amount_refunded : Number(p.amount);
        if (amount > payment.amount - payment.amount_refunded) {
          return rzpError(400, 'The refund amount provided is greater than amount captured', { field: 'amount' });
        }
        const refund: Refund = {
          id: randomId('rfnd_', 14),
          entity: 'refund',
          amount,
          currency: payment.currency,
          payment_id: payment.id,
          notes: (p.notes as Record<string, string>) ?? [],
          receipt: (p.receipt as string) ?? null,
          status: 'processed',
          speed_processed: 'normal',
          created_at: now(),
        };
        refunds.set(refund.id, refund);
        if (key) refundKeys.set(key, { body: JSON.stringify(p), refund });
        payment.amount_refunded += amount;
        payment.refund_status = payment.amount_refunded >= payment.amount ? 'full' : 'partial';
        if (payment.refund_status === 'full') payment.status = 'refunded';
        emit('refund.created', { refund, payment });
        emit('refund.processed', { refund, payment });
        return { status: 200, body: refund };
      }
    }
    const rf = r.path.match(/^\/v1\/refunds\/([^/]+)$/);
    if (rf && r.method === 'GET') {
      const refund = refunds.get(rf[1]!);
      return refund ? { status: 200, body: refund } : rzpError(400, 'The id provided does not exist');
    }
    return rzpError(400, `The requested URL was not found on the server. (${r.method} ${r.path})`);
  }

  const server: EmulatorServer = await serveEmulator({
    port: opts.port,
    host: opts.host,
    webhookUrl: opts.webhookUrl,
    errorBody: (status) =>
      status === 429
        ? { error: { code: 'BAD_REQUEST_ERROR', description: 'Too many requests', source: 'NA', step: 'NA', reason: 'NA', metadata: {} } }
        : { error: { code: 'SERVER_ERROR', description: 'The server encountered an error. The incident has been reported to admins. (emulated)', source: 'NA', step: 'NA', reason: 'NA', metadata: {} } },
    api,
    reset: () => {
      orders.clear();
      payments.clear();
      refunds.clear();
      refundKeys.clear();
    },
    async control(r) {
      const m = r.path.match(/^\/_emulator\/orders\/([^/]+)\/pay$/);
      if (!m || r.method !== 'POST') return undefined;
      const order = orders.get(m[1]!);
      if (!order) return { status: 404, body: { error: 'no such order' } };
      const p = r.body ? (parseJson(r.body) as { method?: string; outcome?: 'authorized' | 'captured' | 'failed' }) : {};
      return { status: 200, body: pay(order, p.method ?? 'upi', p.outcome ?? 'authorized') };
    },
  });
  return Object.assign(server, { orders });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const e = await startRazorpayEmulator({
    port: Number(process.env.PORT ?? 12112),
    keyId: process.env.RAZORPAY_KEY_ID ?? 'rzp_test_emulator',
    keySecret: process.env.RAZORPAY_KEY_SECRET ?? 'rzp_secret_emulator',
    webhookSecret: process.env.RAZORPAY_WEBHOOK_SECRET ?? 'rzp_whsec_emulator',
    webhookUrl: process.env.WEBHOOK_URL,
  });
  console.log(`razorpay emulator on ${e.url}`);
}
