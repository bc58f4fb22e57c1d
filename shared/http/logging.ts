/** Structured JSON logs: one line per event, levels filtered by LOG_LEVEL. */
const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
export type LogLevel = keyof typeof LEVELS;

export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
}

export function createLogger(minLevel: LogLevel, base: Record<string, unknown> = {}): Logger {
  return {
    log(level, msg, fields) {
      if (LEVELS[level] < LEVELS[minLevel]) return;
      const record = { ts: new Date().toISOString(), level, msg, ...base, ...fields };
      // A replacer takes JSON.stringify off V8's fast path, so it is passed only when it has work.
      const line = holdsError(record, 5) ? JSON.stringify(record, errorReplacer) : JSON.stringify(record);
      if (level === 'error') console.error(line);
      else if (level === 'warn') console.warn(line);
      else console.log(line);
    },
  };
}

/** Whether an Error sits within `depth` levels of `value` (an Error serialises as `{}` without the replacer; fields nest far less). */
function holdsError(value: unknown, depth: number): boolean {
  if (value instanceof Error) return true;
  if (depth === 0 || typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return value.some((v) => holdsError(v, depth - 1));
  for (const key in value) if (holdsError((value as Record<string, unknown>)[key], depth - 1)) return true;
  return false;
}

function errorReplacer(_key: string, value: unknown) {
  if (value instanceof Error) {
    return { name: value.name, message: value.message, stack: value.stack, cause: value.cause };
  }
  return value;
}
