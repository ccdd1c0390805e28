// Zod types for the human units in config (durations, sizes), shared by every schema file.
import { z } from 'zod'
import { parseDuration, parseSize } from './units.js'

/** A duration ("250ms", "5s", "2m"; a number is ms) → milliseconds. */
export const duration = () =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    const ms = parseDuration(v)
    if (Number.isNaN(ms)) {
      ctx.issues.push({ code: 'custom', input: v, message: 'must be a duration like 250ms, 5s or 2m' })
      return z.NEVER
    }
    return ms
  })

/** A size ("10MiB", "512KB"; a number is bytes) → bytes. */
export const size = () =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    const bytes = parseSize(v)
    if (Number.isNaN(bytes)) {
      ctx.issues.push({ code: 'custom', input: v, message: 'must be a size like 10MiB or 512KB' })
      return z.NEVER
    }
    return bytes
  })
