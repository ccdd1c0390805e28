// Run-time fault injection: the one fault mode the simulator currently applies to /v1/* requests.
import { z } from 'zod'

const faultSchema = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal(['ok', 'down', 'error', 'hang']) }),
  z.strictObject({
    mode: z.literal('slow'),
    latency_ms: z.number().nonnegative().finite().default(2000),
  }),
  z.strictObject({
    mode: z.literal('drop-mid-stream'),
    after_chunks: z.number().int().nonnegative().default(3),
  }),
  z.strictObject({
    mode: z.literal('rate-limit'),
    // Retry-After carries whole seconds (RFC 9110 §10.2.3).
    retry_after: z.number().int().nonnegative().default(1),
  }),
])

/** A validated fault; parameters that do not belong to the mode are rejected, not ignored. */
export type Fault = Readonly<z.infer<typeof faultSchema>>

export type FaultMode = Fault['mode']

export const NO_FAULT: Fault = Object.freeze({ mode: 'ok' })

/** Parses a `POST /sim/fault` body; returns an error message when it is not a valid fault. */
export function parseFault(value: unknown): { fault: Fault } | { error: string } {
  const result = faultSchema.safeParse(value)
  if (result.success) return { fault: Object.freeze(result.data) }
  return { error: `Invalid fault: ${z.prettifyError(result.error).replace(/\n/g, '; ')}` }
}
