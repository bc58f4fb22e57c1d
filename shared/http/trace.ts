/** W3C Trace Context (traceparent) parsing and propagation. */
import { toHex } from '../kernel/hex';
export interface TraceContext {
  traceId: string;
  /** Our span id for this request. */
  spanId: string;
  /** The caller's span id, when a valid traceparent came in. */
  parentSpanId?: string;
  sampled: boolean;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** `bytes` random bytes as lowercase hex. */
const hex = (bytes: number) => toHex(crypto.getRandomValues(new Uint8Array(bytes)));

export function continueTrace(header: string | null | undefined): TraceContext {
  const m = header ? TRACEPARENT.exec(header.trim().toLowerCase()) : null;
  if (m && m[1] !== 'ff' && !/^0+$/.test(m[2]!) && !/^0+$/.test(m[3]!)) {
    return { traceId: m[2]!, parentSpanId: m[3]!, spanId: hex(8), sampled: (parseInt(m[4]!, 16) & 1) === 1 };
  }
  return { traceId: hex(16), spanId: hex(8), sampled: true };
}

export const formatTraceparent = (t: TraceContext) => `00-${t.traceId}-${t.spanId}-${t.sampled ? '01' : '00'}`;
