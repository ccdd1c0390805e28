// The filter pipeline of a config: which stages run, in which order, and the two lifecycle
// hooks that run them (each request uses the pipeline of the snapshot it started on).
import type { FiltersConfig } from '../config/filters.js'
import type { Hook } from '../server/hooks.js'
import { denyFilter } from './deny.js'
import { FilterPipeline, type RequestFilter } from './filter.js'
import { jsonDepthFilter } from './json-depth.js'
import { maxTokensFilter } from './max-tokens.js'
import { redactPiiFilter } from './redact-pii.js'
import { maxMessagesFilter, validateFilter } from './validate-body.js'

/** A stage built from the config, or undefined when its setting turns it off. */
export type FilterFactory = (config: FiltersConfig) => RequestFilter | undefined

/**
 * The stages in the order they run. Cheap refusals come first; deny sees the text as the
 * client sent it, before redaction; the token cap comes last, so limits that estimate
 * tokens afterwards see the capped value.
 */
export const FILTER_STAGES: readonly FilterFactory[] = [
  (c) => jsonDepthFilter(c.max_json_depth),
  (c) => maxMessagesFilter(c.max_messages),
  (c) => (c.validate ? validateFilter : undefined),
  (c) => (c.deny.length > 0 ? denyFilter(c.deny) : undefined),
  (c) => (c.redact_pii.length > 0 ? redactPiiFilter(c.redact_pii) : undefined),
  (c) => (c.max_tokens !== undefined ? maxTokensFilter(c.max_tokens) : undefined),
]

export function buildFilterPipeline(
  config: FiltersConfig,
  stages: readonly FilterFactory[] = FILTER_STAGES
): FilterPipeline {
  const built: RequestFilter[] = []
  for (const make of stages) {
    const stage = make(config)
    if (stage !== undefined) built.push(stage)
  }
  return new FilterPipeline(built)
}

/** `preParsing`: the raw-byte stages of the request's snapshot. */
export const filterRawHook: Hook = function filterRaw(ctx) {
  ctx.snapshot.filters.checkRaw(ctx)
}

/** `preHandler`: the body stages of the request's snapshot. */
export const filterBodyHook: Hook = function filterBody(ctx) {
  return ctx.snapshot.filters.apply(ctx)
}
