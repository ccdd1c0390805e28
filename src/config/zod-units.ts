// Zod types for the human units in config (durations, sizes), shared by every schema file.
import { z } from 'zod'
import { parseDuration, parseSize } from './units.js'

/** A string-or-number field parsed by `parse` (NaN = invalid, reported with `message`). */
const unit = (parse: (v: string | number) => number, message: string) => () =>
  // Not a string or number at all (true, a list…): the same message as a malformed one.
  z.union([z.string(), z.number()], { error: (issue) => (issue.input === undefined ? undefined : message) }).transform((v, ctx) => {
    const n = parse(v)
    if (Number.isNaN(n)) {
      ctx.issues.push({ code: 'custom', input: v, message })
      return z.NEVER
    }
    return n
  })

/** A duration ("250ms", "5s", "2m"; a number is ms) → milliseconds. */
export const duration = unit(parseDuration, 'must be a duration like 250ms, 5s or 2m')

/** A size ("10MiB", "512KB"; a number is bytes) → bytes. */
export const size = unit(parseSize, 'must be a size like 10MiB or 512KB')

/**
 * Longest duration that may arm a Node timer: past 2^31−1 ms (~24.8 days) setTimeout and
 * setInterval warn (TimeoutOverflowWarning) and fire after 1 ms instead.
 */
export const MAX_TIMER_MS = 24 * 86_400_000

/** A duration that arms a timer: at most 24d, and at least `min` ms (`minText` says it). */
export const timerDuration = (min = 0, minText = '') =>
  duration()
    .refine((ms) => ms <= MAX_TIMER_MS, { message: 'must be at most 24d (it arms a timer, and Node timers end at ~24.8 days)' })
    .refine((ms) => ms >= min, { message: minText })
