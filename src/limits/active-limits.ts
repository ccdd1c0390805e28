// Limit sets in the one shape the limiter reads. Config and stored keys give sets with only
// the limits they name ({requests_per_minute, concurrency}, {tokens_per_minute}, …): each a
// different hidden class to V8, so every read of a limit in the limiter's per-scope code was
// polymorphic (bigger, slower machine code on a path that runs cold once per request). Made
// once per key and per config, never per request.
import type { LimitSet } from '../config/limits-schema.js'

class ActiveLimits implements LimitSet {
  constructor(
    readonly requests_per_minute: number | undefined,
    readonly tokens_per_minute: number | undefined,
    readonly concurrency: number | undefined
  ) {}
}

/** `set` in the limiter's shape; undefined when it sets no limit at all. */
export function activeLimits(set: LimitSet | undefined): LimitSet | undefined {
  if (set === undefined) return undefined
  const { requests_per_minute: rpm, tokens_per_minute: tpm, concurrency } = set
  return rpm === undefined && tpm === undefined && concurrency === undefined ? undefined : new ActiveLimits(rpm, tpm, concurrency)
}

/** A config's per-IP and per-model limits in the limiter's shape (only the models that have one). */
export class ConfigLimits {
  readonly perIp: LimitSet | undefined
  readonly perModel = new Map<string, LimitSet>()

  constructor(limits: { readonly per_ip?: LimitSet | undefined; readonly per_model: Readonly<Record<string, LimitSet>> }) {
    this.perIp = activeLimits(limits.per_ip)
    for (const [model, set] of Object.entries(limits.per_model)) {
      const active = activeLimits(set)
      if (active !== undefined) this.perModel.set(model, active)
    }
  }
}
