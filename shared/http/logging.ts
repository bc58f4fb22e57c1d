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
      const line = JSON.stringify({ ts: new Date().toISOString(), level, msg, ...base, ...fields }, errorReplacer);
      if (level === 'error') console.error(line);
      else if (level === 'warn') console.warn(line);
      else console.log(line);
    },
  };
}

function errorReplacer(_key: string, value: unknown) {
  if (value instanceof Error) {
    return { name: value.name, message: value.message, stack: value.stack, cause: value.cause };
  }
  return value;
}
