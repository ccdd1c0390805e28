// Config (+ the previous Snapshot) → Snapshot: routes, pools and upstreams. Pure apart
// from creating connection pools; live upstreams whose spec is unchanged are reused, so
// their health, latency figures and connections carry over a reload. Which members a pool
// has comes from a plan (routing/membership.ts: the config plus run-time changes).
import type { FilterPipeline } from '../filters/filter.js'
import { buildFilterPipeline } from '../filters/pipeline.js'
import { OutlierDetector } from '../health/outlier-detector.js'
import type { MemberSpec } from '../routing/membership.js'
import { specIdentity, upstreamId } from '../routing/membership.js'
import { Pool } from '../routing/pool.js'
import { RouteTable, type Route } from '../routing/route-table.js'
import { Upstream, type AttemptObserver } from '../routing/upstream.js'
import { AdmissionQueue } from '../resilience/admission-queue.js'
import { RetryBudget } from '../resilience/retry-budget.js'
import { EdgePolicy } from '../server/edge-policy.js'
import type { Config, ModelConfig } from './schema.js'

export { upstreamId }

export interface Snapshot {
  readonly config: Config
  readonly routes: RouteTable
  /** Every upstream of every pool. */
  readonly upstreams: readonly Upstream[]
  /** Request filtering stages (filters:). */
  readonly filters: FilterPipeline
  /** Client address, CORS and framing rules (server:). */
  readonly edge: EdgePolicy
}

export interface SnapshotChange {
  readonly snapshot: Snapshot
  /** Upstreams of the previous snapshot that the new one no longer has: drain and close them. */
  readonly removed: readonly Upstream[]
}

/** The members a model's pool should have. */
export type MemberPlan = (model: ModelConfig) => readonly MemberSpec[]

/** The plan without run-time changes: the configured upstreams, as they are. */
export const configuredMembers: MemberPlan = (model) =>
  model.upstreams.map((spec, i) => ({ id: upstreamId(spec, i), spec, source: 'config' }))

/**
 * Identity of an upstream across reloads: same model, id and spec. Weight, max_concurrency
 * and the model's connect timeout are left out: they are applied to the live object, so
 * changing them (in the file or through the admin API) keeps its health, latency and connections.
 */
function upstreamKey(model: ModelConfig, id: string, spec: MemberSpec['spec']): string {
  return `${model.name}\u0000${id}\u0000${specIdentity(spec)}`
}

/**
 * What a pool tells of each ended attempt, made outside buildSnapshot: a closure made in it
 * would hold its scope, `previous` included, and each snapshot the one before it, for good
 * (every swap kept a whole snapshot alive, with its pools and connections).
 */
function attemptObserver(outlier: OutlierDetector, queue: AdmissionQueue<Pool>): AttemptObserver {
  return (u, outcome, retryAfterMs) => {
    outlier.observe(u, outcome, retryAfterMs)
    queue.release()
  }
}

export function buildSnapshot(config: Config, previous?: Snapshot, plan: MemberPlan = configuredMembers): SnapshotChange {
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
    const members = plan(model).map(({ id, spec, address, parent }) => {
      const existing = live.get(upstreamKey(model, id, spec))
      const u = existing ?? new Upstream(spec, { id, publicName: parent, connectTimeout: model.timeouts.connect, address })
      if (existing !== undefined) kept.add(existing)
      // A member that joins a running gateway (reload, admin API, DNS discovery) is ramped in
      // like one that recovered (Envoy's slow start for new hosts); at start nobody is.
      else if (previous !== undefined) u.recoveredAt = Date.now()
      u.configuredWeight = spec.weight
      u.maxConcurrency = spec.max_concurrency
      u.connectTimeout = model.timeouts.connect
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
    const queue = old?.queue ?? new AdmissionQueue<Pool>(model.queue)
    queue.configure(model.queue)
    // Its waiters pick from this pool from now on (Gateway.swap wakes them).
    queue.pool = pool
    const outlier = new OutlierDetector(pool, model.outlier, undefined, old?.outlier.records)
    pool.observer = attemptObserver(outlier, queue)
    routes.push({ name: model.name, config: model, pool, fallbacks: [], budget, queue, outlier })
  }
  const byName = new Map(routes.map((r) => [r.name, r]))
  for (const r of routes) r.fallbacks = r.config.fallback.map((name) => byName.get(name)!)
  const removed = previous === undefined ? [] : previous.upstreams.filter((u) => !kept.has(u))
  const snapshot: Snapshot = {
    config,
    routes: new RouteTable(routes),
    upstreams,
    filters: buildFilterPipeline(config.filters),
    edge: new EdgePolicy(config.server),
  }
  return { snapshot, removed }
}
