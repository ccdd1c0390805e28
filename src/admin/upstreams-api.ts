// Admin API for pools: list models and upstreams, add an upstream, drain, remove, re-weight.
// Every change goes through Membership and a pool rebuild, the same path a config reload
// takes, so run-time changes and reloads cannot disagree (rules in routing/membership.ts).
import { z } from 'zod'
import { formatIssue, issueParam } from '../config/load.js'
import { MAX_TIMER_MS } from '../config/zod-units.js'
import type { Config } from '../config/schema.js'
import { upstreamSchema } from '../config/schema.js'
import type { Snapshot } from '../config/snapshot.js'
import { parseDuration } from '../config/units.js'
import type { Logger } from '../observability/logger.js'
import { discoveryHost, upstreamId, type MemberRef, type MemberSpec, type Membership } from '../routing/membership.js'
import type { Route } from '../routing/route-table.js'
import type { Upstream } from '../routing/upstream.js'
import { safeUrl } from './redact.js'
import { AdminError, type AdminServer } from './server.js'

/** What the pool routes need from the gateway. */
export interface FleetControl {
  readonly snapshot: Snapshot
  readonly config: Config
  readonly membership: Membership
  readonly log: Logger
  /** Rebuilds every pool from the config and the run-time changes (a snapshot swap). */
  refresh(reason: string): void
  /** Waits for first DNS answers of discovery hosts not resolved yet. */
  prime(config: Config): Promise<void>
  /** Addresses DNS discovery knows for a host. */
  addresses(host: string): readonly string[] | undefined
}

/** One upstream as the admin API shows it: never its key, headers or URL credentials. */
export interface UpstreamView {
  readonly model: string
  readonly name: string
  /** `model/name`, unambiguous across models. */
  readonly id: string
  readonly url: string
  readonly state: string
  readonly inflight: number
  readonly latency_ewma_ms: number
  readonly requests: number
  readonly failures: number
  readonly weight: number
  readonly max_concurrency: number | null
  readonly source?: MemberSpec['source']
  readonly discovery?: { readonly entry: string; readonly host: string; readonly address: string }
}

export function upstreamView(model: string, u: Upstream, m: MemberSpec | undefined, now = Date.now()): UpstreamView {
  const view: UpstreamView = {
    model,
    name: u.id,
    id: `${model}/${u.id}`,
    url: safeUrl(`${u.origin}${u.basePath}`),
    state: u.state(now),
    inflight: u.inflight,
    latency_ewma_ms: Math.round(u.latencyEwma * 10) / 10,
    requests: u.requests,
    failures: u.failures,
    weight: u.configuredWeight,
    max_concurrency: u.maxConcurrency ?? null,
  }
  if (m === undefined) return view
  if (m.address === undefined || m.parent === undefined) return { ...view, source: m.source }
  return { ...view, source: m.source, discovery: { entry: m.parent, host: discoveryHost(m.spec), address: m.address } }
}

/** Every upstream: pool members, then the ones still draining after they left. */
export function listUpstreams(fleet: FleetControl, model?: string): UpstreamView[] {
  const now = Date.now()
  const out: UpstreamView[] = []
  for (const route of fleet.snapshot.routes.routes) {
    if (model !== undefined && route.name !== model) continue
    const plan = new Map(fleet.membership.plan(route.config).map((m) => [m.id, m]))
    for (const u of route.pool.members) out.push(upstreamView(route.name, u, plan.get(u.id), now))
  }
  for (const [u, { model: m }] of fleet.membership.retiring) {
    if (model === undefined || m === model) out.push(upstreamView(m, u, undefined, now))
  }
  return out
}

function modelView(fleet: FleetControl, route: Route): Record<string, unknown> {
  const now = Date.now()
  const states: Record<string, number> = {}
  let inflight = 0
  let requests = 0
  let failures = 0
  for (const u of route.pool.members) {
    const s = u.state(now)
    states[s] = (states[s] ?? 0) + 1
    inflight += u.inflight
    requests += u.requests
    failures += u.failures
  }
  const discovery = fleet.membership
    .entries(route.config)
    .filter((e) => e.spec.discovery === 'dns')
    .map((e) => {
      const host = discoveryHost(e.spec)
      return { name: e.id, host, url: safeUrl(e.spec.url), addresses: fleet.addresses(host) ?? [] }
    })
  return {
    name: route.name,
    strategy: route.config.strategy,
    fallback: route.config.fallback,
    upstreams: route.pool.members.length,
    states,
    inflight,
    requests,
    failures,
    discovery,
  }
}

/** A zod failure → a 400 naming the first bad field (`param`) and listing every problem. */
function invalidBody(error: z.ZodError, code: string): AdminError {
  const issues = error.issues.map(formatIssue)
  return new AdminError(400, `Invalid request body: ${issues.join('; ')}`, code, {
    param: error.issues[0] === undefined ? undefined : issueParam(error.issues[0]),
    issues,
  })
}

const patchSchema = z
  .strictObject({
    weight: z.number().positive().optional(),
    /** null lifts the limit. */
    max_concurrency: z.number().int().positive().nullable().optional(),
  })
  .refine((p) => p.weight !== undefined || p.max_concurrency !== undefined, {
    message: 'send weight and/or max_concurrency',
  })

interface Target {
  readonly route: Route
  readonly ref: MemberRef
}

/** An upstream named `name`, or `model/name` when the name alone is ambiguous. */
function resolve(fleet: FleetControl, ref: string): Target | { readonly leaving: Upstream; readonly model: string } {
  const routes = [...fleet.snapshot.routes.routes]
  const find = (route: Route, id: string): Target[] => {
    const found = fleet.membership.locate(route.config, id)
    return found === undefined ? [] : [{ route, ref: found }]
  }
  let hits = routes.flatMap((r) => find(r, ref))
  if (hits.length > 1) {
    const names = hits.map((h) => `${h.route.name}/${ref}`).join(', ')
    throw new AdminError(409, `Upstream name '${ref}' is used in several models; say which: ${names}.`, 'ambiguous_upstream')
  }
  if (hits.length === 0) {
    // model/name: model names may hold '/' too, so try every split.
    for (let i = ref.indexOf('/'); i > 0; i = ref.indexOf('/', i + 1)) {
      const route = fleet.snapshot.routes.resolve(ref.slice(0, i))
      if (route !== undefined) hits = hits.concat(find(route, ref.slice(i + 1)))
    }
  }
  if (hits[0] !== undefined) return hits[0]
  for (const [u, { model }] of fleet.membership.retiring) {
    if (u.id === ref || `${model}/${u.id}` === ref) return { leaving: u, model }
  }
  throw new AdminError(404, `No upstream named '${ref}'. GET /admin/upstreams lists them.`, 'upstream_not_found')
}

/** The live pool members a reference covers (a DNS entry covers all its endpoints). */
function membersOf(fleet: FleetControl, t: Target): Upstream[] {
  const { route, ref } = t
  if (ref.kind === 'endpoint') return route.pool.members.filter((u) => u.id === ref.member.id)
  if (ref.entry.spec.discovery !== 'dns') return route.pool.members.filter((u) => u.id === ref.entry.id)
  const ids = new Set(fleet.membership.plan(route.config).filter((m) => m.parent === ref.entry.id).map((m) => m.id))
  return route.pool.members.filter((u) => ids.has(u.id))
}

function targetName(t: Target): string {
  return `${t.route.name}/${t.ref.kind === 'entry' ? t.ref.entry.id : t.ref.member.id}`
}

/** Takes the target out of its pool; returns the upstreams now draining. */
function drain(fleet: FleetControl, ref: string): { model: string; upstreams: Upstream[] } {
  const t = resolve(fleet, ref)
  if ('leaving' in t) return { model: t.model, upstreams: [t.leaving] }
  const upstreams = membersOf(fleet, t)
  fleet.membership.remove(t.route.name, t.ref)
  fleet.refresh(`drain ${targetName(t)}`)
  return { model: t.route.name, upstreams }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}

export function registerUpstreamRoutes(admin: AdminServer, fleet: FleetControl): void {
  admin.route('GET', '/admin/models', () => ({
    body: { object: 'list', data: [...fleet.snapshot.routes.routes].map((r) => modelView(fleet, r)) },
  }))

  admin.route('GET', '/admin/upstreams', ({ query }) => {
    const model = query.get('model') ?? undefined
    if (model !== undefined && fleet.snapshot.routes.resolve(model) === undefined) {
      throw new AdminError(404, `No model named '${model}'.`, 'model_not_found', { param: 'model' })
    }
    return { body: { object: 'list', data: listUpstreams(fleet, model) } }
  })

  admin.route('POST', '/admin/models/:model/upstreams', async ({ params, body }) => {
    const route = fleet.snapshot.routes.resolve(params.model!)
    if (route === undefined) throw new AdminError(404, `No model named '${params.model}'.`, 'model_not_found')
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new AdminError(400, 'Send the upstream as a JSON object, e.g. {"url": "http://10.0.0.7:8000/v1", "name": "gpu-7"}.', 'invalid_upstream')
    }
    const parsed = upstreamSchema.safeParse(body)
    if (!parsed.success) throw invalidBody(parsed.error, 'invalid_upstream')
    const entries = fleet.membership.entries(route.config)
    const taken = new Set([...entries.map((e) => e.id), ...route.pool.members.map((u) => u.id)])
    let spec = parsed.data
    if (spec.name !== undefined && taken.has(spec.name)) {
      throw new AdminError(409, `Model '${route.name}' already has an upstream named '${spec.name}'.`, 'upstream_exists', { param: 'name' })
    }
    // `entry@address` names a DNS entry's discovered endpoints: an upstream of that form would
    // share an id with one (now or when DNS returns the address), and every later call on it
    // would act on both.
    const at = spec.name?.lastIndexOf('@') ?? -1
    if (at >= 0 && entries.some((e) => e.spec.discovery === 'dns' && e.id === spec.name!.slice(0, at))) {
      throw new AdminError(
        400,
        `'${spec.name}' is the form of the endpoints DNS discovery finds for upstream '${spec.name!.slice(0, at)}' of model '${route.name}': name it otherwise.`,
        'invalid_upstream',
        { param: 'name' }
      )
    }
    if (spec.discovery === 'dns' && spec.name !== undefined) {
      const prefix = `${spec.name}@`
      const clash = entries.find((e) => e.id.startsWith(prefix))
      if (clash !== undefined) {
        throw new AdminError(409, `Model '${route.name}' has an upstream named '${clash.id}', the form this entry's discovered endpoints would take: name it otherwise.`, 'upstream_exists', { param: 'name' })
      }
    }
    if (spec.name === undefined) {
      // The index it takes in its pool, as for a configured upstream without a name. Names of
      // configured upstreams removed at run time are skipped too: asked for no name, the
      // caller should not get one that stands for another upstream in the file.
      const configured = route.config.upstreams.map(upstreamId)
      let i = entries.length
      while (taken.has(String(i)) || configured.includes(String(i))) i++
      spec = { ...spec, name: String(i) }
    }
    const id = spec.name!
    fleet.membership.add(route.name, id, spec)
    if (spec.discovery === 'dns') await fleet.prime(fleet.config)
    fleet.refresh(`add ${route.name}/${id}`)
    const now = fleet.snapshot.routes.resolve(route.name)
    const plan = now === undefined ? [] : fleet.membership.plan(now.config).filter((m) => m.id === id || m.parent === id)
    const views = plan.flatMap((m) => {
      const u = now?.pool.find(m.id)
      return u === undefined ? [] : [upstreamView(route.name, u, m)]
    })
    if (spec.discovery !== 'dns' && views[0] !== undefined) return { status: 201, body: views[0] }
    return { status: 201, body: { model: route.name, name: id, source: 'runtime', discovery: { host: discoveryHost(spec) }, endpoints: views } }
  })

  const drainRoute = ({ params }: { params: Readonly<Record<string, string>> }) => {
    const { model, upstreams } = drain(fleet, refOf(params))
    const views = upstreams.map((u) => upstreamView(model, u, undefined))
    return { status: 202, body: views.length === 1 ? views[0] : { object: 'list', data: views } }
  }
  admin.route('POST', '/admin/upstreams/:name/drain', drainRoute)
  admin.route('POST', '/admin/upstreams/:model/:name/drain', drainRoute)

  const deleteRoute = async ({ params, query }: { params: Readonly<Record<string, string>>; query: URLSearchParams }) => {
    const waitMs = parseDuration(query.get('wait') ?? '30s')
    if (Number.isNaN(waitMs)) throw new AdminError(400, 'wait must be a duration like 30s or 0.', 'invalid_request', { param: 'wait' })
    // A Node timer past ~24.8 days fires at once: a longer wait would not wait at all.
    if (waitMs > MAX_TIMER_MS) throw new AdminError(400, 'wait must be at most 24d.', 'invalid_request', { param: 'wait' })
    const { model, upstreams } = drain(fleet, refOf(params))
    const done = Promise.all(upstreams.map((u) => fleet.membership.retire(u, model, fleet.log)))
    await Promise.race([done, sleep(waitMs)])
    const removed = upstreams.every((u) => !fleet.membership.retiring.has(u))
    const views = upstreams.map((u) => ({ ...upstreamView(model, u, undefined), removed }))
    return { status: removed ? 200 : 202, body: views.length === 1 ? views[0] : { object: 'list', data: views } }
  }
  admin.route('DELETE', '/admin/upstreams/:name', deleteRoute)
  admin.route('DELETE', '/admin/upstreams/:model/:name', deleteRoute)

  const patchRoute = ({ params, body }: { params: Readonly<Record<string, string>>; body: unknown }) => {
    const parsed = patchSchema.safeParse(body ?? {})
    if (!parsed.success) throw invalidBody(parsed.error, 'invalid_patch')
    const t = resolve(fleet, refOf(params))
    if ('leaving' in t) throw new AdminError(409, `Upstream '${t.model}/${t.leaving.id}' is draining.`, 'upstream_draining')
    fleet.membership.patch(t.route.name, t.ref, parsed.data)
    fleet.refresh(`patch ${targetName(t)}`)
    const now = fleet.snapshot.routes.resolve(t.route.name)!
    const plan = new Map(fleet.membership.plan(now.config).map((m) => [m.id, m]))
    const views = membersOf(fleet, { route: now, ref: t.ref }).map((u) => upstreamView(now.name, u, plan.get(u.id)))
    return { body: views.length === 1 ? views[0] : { object: 'list', data: views } }
  }
  admin.route('PATCH', '/admin/upstreams/:name', patchRoute)
  admin.route('PATCH', '/admin/upstreams/:model/:name', patchRoute)

  admin.route('GET', '/admin/upstreams/:name', ({ params }) => findOne(fleet, refOf(params)))
  admin.route('GET', '/admin/upstreams/:model/:name', ({ params }) => findOne(fleet, refOf(params)))
}

function refOf(params: Readonly<Record<string, string>>): string {
  return params.model === undefined ? params.name! : `${params.model}/${params.name!}`
}

function findOne(fleet: FleetControl, ref: string): { body: unknown } {
  const t = resolve(fleet, ref)
  if ('leaving' in t) return { body: upstreamView(t.model, t.leaving, undefined) }
  const plan = new Map(fleet.membership.plan(t.route.config).map((m) => [m.id, m]))
  const views = membersOf(fleet, t).map((u) => upstreamView(t.route.name, u, plan.get(u.id)))
  return { body: views.length === 1 ? views[0] : { object: 'list', data: views } }
}
