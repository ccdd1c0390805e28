// RouteTable: model name → Route (its pool, its config and its fallbacks).
import type { ModelConfig } from '../config/schema.js'
import type { OutlierDetector } from '../health/outlier-detector.js'
import type { AdmissionQueue } from '../resilience/admission-queue.js'
import type { RetryBudget } from '../resilience/retry-budget.js'
import type { Pool } from './pool.js'

export interface Route {
  readonly name: string
  readonly config: ModelConfig
  readonly pool: Pool
  /** Fallback routes in the order configured. */
  readonly fallbacks: readonly Route[]
  /** Shared by every request of this model: bounds retries to a share of requests. */
  readonly budget: RetryBudget
  /** Requests waiting for a member with room under max_concurrency; carried over reloads. */
  readonly queue: AdmissionQueue<Pool>
  /** Passive ejection and 429 cooldown from this pool's live outcomes. */
  readonly outlier: OutlierDetector
}

export class RouteTable {
  private readonly byName = new Map<string, Route>()

  constructor(routes: readonly Route[]) {
    for (const r of routes) this.byName.set(r.name, r)
  }

  resolve(model: string): Route | undefined {
    return this.byName.get(model)
  }

  get routes(): IterableIterator<Route> {
    return this.byName.values()
  }

  get names(): string[] {
    return [...this.byName.keys()]
  }
}
