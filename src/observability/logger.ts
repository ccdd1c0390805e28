// The process logger: pino with redaction of every header or field that can hold a secret.
import pino, { type Logger } from 'pino'

/** Paths pino blanks wherever they appear in a logged object. */
export const REDACT_PATHS = [
  'authorization',
  'api_key',
  'apiKey',
  'token',
  'key',
  'password',
  '*.authorization',
  '*.api_key',
  '*.apiKey',
  '*.token',
  '*.password',
  'headers.authorization',
  'headers["api-key"]',
  'headers["x-api-key"]',
  '*.headers.authorization',
  '*.headers["api-key"]',
  '*.headers["x-api-key"]',
]

export type { Logger }

export interface LoggerOptions {
  readonly level?: string
  /** 1 = stdout, 2 = stderr, or a file path. */
  readonly destination?: number | string
  /** Write asynchronously in batches (the access log): the hot path never waits on I/O. */
  readonly async?: boolean
  /** Write to this stream instead (the demo shows recent log lines on its live screen). */
  readonly stream?: { write(line: string): void }
  /**
   * Skip redaction: only for loggers whose every field is built by us from known-safe values
   * (the access log). Redaction costs ~10% of the gateway's CPU per request.
   */
  readonly trustedFields?: boolean
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const dest = options.stream ?? pino.destination({
    dest: options.destination ?? 2,
    sync: options.async !== true,
    minLength: options.async === true ? 4096 : 0,
    mkdir: typeof options.destination === 'string',
  })
  return pino(
    {
      level: options.level ?? 'info',
      base: undefined,
      redact: options.trustedFields === true ? undefined : { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    dest
  )
}

/** Flushes a logger's buffered output (on shutdown). */
export function flushLogger(logger: Logger): void {
  try {
    logger.flush()
  } catch {
    // An async destination that is not ready yet has nothing buffered.
  }
}
