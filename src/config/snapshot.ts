// Config (+ the previous Snapshot) → Snapshot: routes, pools and upstreams. Pure apart
// from creating connection pools; live upstreams whose spec is unchanged are reused, so
// their health, latency figures and connections carry over a reload.
import { OutlierDetector } from '../health/outlier-detector.js'
import { Pool } from '../routing/pool.js'
import { RouteTable, type Route } from '../routing/route-table.js'
import { Upstream } from '../routing/upstream.js'
import { AdmissionQueue } from '../resilience/admission-queue.js'
import { RetryBudget } from '../resilience/retry-budget.js'
import type { Config, ModelConfig, UpstreamConfig } from './schema.js'

export interface Snapshot {
  readonly config: Config
  readonly routes: RouteTable
  /** Every upstream of every pool. */
  readonly upstreams: readonly Upstream[]
}

export interface SnapshotChange {
  readonly snapshot: Snapshot
  /** Upstreams of the previous snapshot that the new one no longer has: drain and close them. */
  readonly removed: readonly Upstream[]
}

/** Identity of an upstream across reloads: same model, same id, same spec, same connect timeout. */
function upstreamKey(model: ModelConfig, id: string, spec: UpstreamConfig): string {
  return `${model.name}\u0000${id}\u0000${model.timeouts.connect}\u0000${JSON.stringify(spec)}`
}

export function upstreamId(spec: UpstreamConfig, index: number): string {
  return spec.name ?? String(index)
}

export function buildSnapshot(config: Config, previous?: Snapshot): SnapshotChange {
  const live = new Map<string, Upstream>()
  const previousRoutes = new Map<string, Route>()
  if (previous !== undefined) {
    for (const route of previous.routes.routes) {
      previousRoutes.set(route.name, route)
      for (const u of route.pool.members) live.set(upstreamKey(route.config, u.id, u.spec), u)
    }
  }
  const kept = new Set<Upstream>()
  const routes: { -readonly [K in keyof Route]: Route[K] }[] = []
  const upstreams: Upstream[] = []
  for (const model of config.models) {
    const members = model.upstreams.map((spec, i) => {
      const id = upstreamId(spec, i)
      const existing = live.get(upstreamKey(model, id, spec))
      const u = existing ?? new Upstream(spec, { id, connectTimeout: model.timeouts.connect })
      if (existing !== undefined) kept.add(existing)
      u.slowStartMs = model.health?.slow_start ?? 0
      return u
    })
    upstreams.push(...members)
    const pool = new Pool(model.name, members, {
      strategy: model.strategy,
      maxLoadFactor: model.affinity.max_load_factor,
    })
    const old = previousRoutes.get(model.name)
    const budget =
      old !== undefined && old.budget.percent === model.retries.budget_percent
        ? old.budget
        : new RetryBudget(model.retries.budget_percent)
    // The queue carries over, so requests waiting in it are woken by the new pool's members.
    const queue = old?.queue ?? new AdmissionQueue(model.queue)
    queue.configure(model.queue)
    const outlier = new OutlierDetector(pool, model.outlier, undefined, old?.outlier.records)
    pool.observer = (u, outcome, retryAfterMs) => {
      outlier.observe(u, outcome, retryAfterMs)
      queue.release()
    }
    routes.push({ name: model.name, config: model, pool, fallbacks: [], budget, queue, outlier })
  }
  const byName = new Map(routes.map((r) => [r.name, r]))
  for (const r of routes) r.fallbacks = r.config.fallback.map((name) => byName.get(name)!)
  const removed = previous === undefined ? [] : previous.upstreams.filter((u) => !kept.has(u))
  return { snapshot: { config, routes: new RouteTable(routes), upstreams }, removed }
}
