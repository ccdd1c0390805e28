// Prices per model (USD per 1M tokens) and the cost of one request's usage. Used by
// budgets (limits) and by usage accounting, so both agree on every figure.
import { z } from 'zod'
import type { Usage } from '../types.js'

export const priceSchema = z.strictObject({
  input: z.number().min(0),
  output: z.number().min(0),
})

/** `prices:` in the config: model name → USD per 1M input / output tokens. */
export const pricesSchema = z.record(z.string(), priceSchema).default({})

export type Prices = z.output<typeof pricesSchema>

/** USD cost of `usage` on `model`; 0 when the model has no price. */
export function costUsd(prices: Prices, model: string | undefined, usage: Usage | undefined): number {
  if (model === undefined || usage === undefined) return 0
  const p = prices[model]
  if (p === undefined) return 0
  return (usage.prompt_tokens * p.input + usage.completion_tokens * p.output) / 1_000_000
}
