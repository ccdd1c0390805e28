// Config for rate limits (`limits:`) and the state they share between replicas (`state:`).
import { z } from 'zod'
import { duration, MAX_TIMER_MS } from './zod-units.js'

/** One set of limits; every field is optional and absent means unlimited. */
export const limitSetSchema = z.strictObject({
  requests_per_minute: z.number().int().positive().optional(),
  /** Prompt (estimated, then corrected from the upstream's usage) plus completion tokens. */
  tokens_per_minute: z.number().int().positive().optional(),
  /** Requests in flight at once. */
  concurrency: z.number().int().positive().optional(),
})

export type LimitSet = z.output<typeof limitSetSchema>

export const limitsSchema = z.strictObject({
  /** Per client IP (ctx.clientIp, which honours trusted proxies). */
  per_ip: limitSetSchema.optional(),
  /** Per requested model name. */
  per_model: z.record(z.string(), limitSetSchema).default({}),
})

const redisUrl = z.string().refine(
  (s) => {
    try {
      const u = new URL(s)
      return u.protocol === 'redis:' || u.protocol === 'rediss:'
    } catch {
      return false
    }
  },
  { message: 'must be a redis:// or rediss:// URL' }
)

export const stateSchema = z.strictObject({
  /** Shared counters for several replicas; absent = in-process memory (one instance). */
  redis: redisUrl.optional(),
  /** When Redis cannot be reached: `open` admits without limits, `closed` refuses with 503. */
  on_error: z.enum(['open', 'closed']).default('open'),
  /** Longest wait for one Redis call before `on_error` applies. */
  // ioredis's command timer; connecting waits 4 × this, which must fit a timer too.
  timeout: duration()
    .refine((ms) => ms * 4 <= MAX_TIMER_MS, { message: 'must be at most 6d (connecting to Redis waits 4 × this, and Node timers end at ~24.8 days)' })
    .default(250),
  /** Prefix of every Redis key the gateway writes. */
  prefix: z.string().default('switchyard:'),
})
