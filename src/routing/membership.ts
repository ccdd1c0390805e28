// Membership: what each pool should hold — the configured upstreams, plus the run-time changes
// made through the admin API (added, removed, re-weighted) and the endpoints DNS discovery
// found. The changes are kept apart from the config, so a reload re-applies them:
//   - an upstream added at run time stays until it is removed, or its model leaves the config,
//     or the config itself gets an upstream of that name (the file wins);
//   - a configured upstream removed at run time stays out while the file lists it unchanged,
//     even when one of the same name is added at run time: that one takes its place until the
//     file's entry changes;
//   - a PATCH (weight, max_concurrency) holds while the file's entry for it is unchanged.
// The rules are in README.md, "Run-time changes and reloads".
import type { Config, ModelConfig, UpstreamConfig } from '../config/schema.js'
import type { Logger } from '../observability/logger.js'
import type { Upstream } from './upstream.js'

/** Where a pool member comes from. */
export type MemberSource = 'config' | 'runtime' | 'dns'

/** One pool member as the plan wants it. */
export interface MemberSpec {
  readonly id: string
  /** The spec with run-time weight / max_concurrency changes applied. */
  readonly spec: UpstreamConfig
  readonly source: MemberSource
  /** DNS discovery: the address this endpoint connects to. */
  readonly address?: string
  /** DNS discovery: the id of the upstream entry this endpoint was found for. */
  readonly parent?: string
}

/** An upstream entry before DNS expansion: a configured one or one added at run time. */
export interface MemberEntry {
  readonly id: string
  /** As configured or added, without run-time patches: changes are remembered against it. */
  readonly base: UpstreamConfig
  /** With run-time patches applied. */
  readonly spec: UpstreamConfig
  readonly source: 'config' | 'runtime'
}

/** A run-time change of weight or max_concurrency (null lifts the limit). */
export interface UpstreamPatch {
  readonly weight?: number
  readonly max_concurrency?: number | null
}

/** The addresses DNS discovery knows for a host (undefined before its first answer). */
export interface AddressBook {
  addresses(host: string): readonly string[] | undefined
}

/** What an admin operation targets: one member, or an entry (all endpoints of a DNS entry). */
export type MemberRef =
  | { readonly kind: 'entry'; readonly entry: MemberEntry }
  | { readonly kind: 'endpoint'; readonly member: MemberSpec; readonly entry: MemberEntry }

export const DEFAULT_DISCOVERY_INTERVAL = 10_000

/** Identity of a pool member's spec, leaving out what may change live (weight, max_concurrency). */
export function specIdentity(spec: UpstreamConfig): string {
  return JSON.stringify({ ...spec, weight: undefined, max_concurrency: undefined })
}

/** The host DNS discovery resolves for an entry (IPv6 brackets dropped). */
export function discoveryHost(spec: UpstreamConfig): string {
  return new URL(spec.url).hostname.replace(/^\[(.*)\]$/, '$1')
}

/** Identity within the pool: the configured name, else the index. */
export function upstreamId(spec: UpstreamConfig, index: number): string {
  return spec.name ?? String(index)
}

function applyPatch(spec: UpstreamConfig, patch: UpstreamPatch | undefined): UpstreamConfig {
  if (patch === undefined) return spec
  const out = { ...spec }
  if (patch.weight !== undefined) out.weight = patch.weight
  if (patch.max_concurrency === null) delete out.max_concurrency
  else if (patch.max_concurrency !== undefined) out.max_concurrency = patch.max_concurrency
  return out
}

/** A run-time change, remembered against the entry spec it was made on. */
interface Mark {
  readonly base: string
  readonly patch?: UpstreamPatch
}

interface Retiring {
  readonly model: string
  readonly done: Promise<void>
}

export class Membership {
  /** Run-time added upstreams by model, by id, in the order added. */
  private readonly added = new Map<string, Map<string, UpstreamConfig>>()
  /** Removed members and entries by `model\0id`. */
  private readonly removed = new Map<string, Mark>()
  private readonly patches = new Map<string, Mark>()
  /** Upstreams that left their pool and are finishing their in-flight requests. */
  private readonly leaving = new Map<Upstream, Retiring>()

  constructor(private readonly addressBook: AddressBook) {}

  /** The upstream entries of a model: configured ones not removed, then run-time ones. */
  entries(model: ModelConfig): MemberEntry[] {
    const out: MemberEntry[] = []
    const ids = new Set<string>()
    model.upstreams.forEach((base, i) => {
      const id = upstreamId(base, i)
      if (this.isMarked(this.removed, model.name, id, base)) return
      ids.add(id)
      out.push({ id, base, spec: applyPatch(base, this.patchOf(model.name, id, base)), source: 'config' })
    })
    for (const [id, base] of this.added.get(model.name) ?? []) {
      if (ids.has(id)) continue
      out.push({ id, base, spec: applyPatch(base, this.patchOf(model.name, id, base)), source: 'runtime' })
    }
    return out
  }

  /** The members a model's pool should have, DNS entries expanded to one per address. */
  plan(model: ModelConfig): MemberSpec[] {
    const out: MemberSpec[] = []
    for (const e of this.entries(model)) {
      if (e.spec.discovery !== 'dns') {
        out.push({ id: e.id, spec: e.spec, source: e.source })
        continue
      }
      for (const address of this.addressBook.addresses(discoveryHost(e.spec)) ?? []) {
        const id = `${e.id}@${address}`
        if (this.isMarked(this.removed, model.name, id, e.base)) continue
        const spec = applyPatch(e.spec, this.patchOf(model.name, id, e.base))
        out.push({ id, spec, source: 'dns', address, parent: e.id })
      }
    }
    return out
  }

  /** Hosts to resolve and how often (the shortest interval asked for wins). */
  hosts(config: Config): Map<string, number> {
    const out = new Map<string, number>()
    for (const model of config.models) {
      for (const e of this.entries(model)) {
        if (e.spec.discovery !== 'dns') continue
        const host = discoveryHost(e.spec)
        const every = e.spec.discovery_interval ?? DEFAULT_DISCOVERY_INTERVAL
        out.set(host, Math.min(every, out.get(host) ?? Infinity))
      }
    }
    return out
  }

  /** Finds an entry or a discovered endpoint of a model by id. */
  locate(model: ModelConfig, id: string): MemberRef | undefined {
    const entries = this.entries(model)
    const entry = entries.find((e) => e.id === id)
    if (entry !== undefined) return { kind: 'entry', entry }
    const member = this.plan(model).find((m) => m.id === id && m.parent !== undefined)
    if (member === undefined) return undefined
    return { kind: 'endpoint', member, entry: entries.find((e) => e.id === member.parent)! }
  }

  /**
   * Adds an upstream at run time; the caller checked that `id` is free and rebuilds the pool.
   * A removed configured upstream of that name stays removed: clearing its mark would bring
   * it back with its old spec in place of the one asked for.
   */
  add(model: string, id: string, spec: UpstreamConfig): void {
    let byId = this.added.get(model)
    if (byId === undefined) this.added.set(model, (byId = new Map<string, UpstreamConfig>()))
    byId.set(id, spec)
    this.patches.delete(`${model}\u0000${id}`)
  }

  /** Takes an entry (with all its endpoints) or one discovered endpoint out of the pool. */
  remove(model: string, ref: MemberRef): void {
    const id = ref.kind === 'entry' ? ref.entry.id : ref.member.id
    const key = `${model}\u0000${id}`
    this.patches.delete(key)
    if (ref.kind === 'entry' && ref.entry.source === 'runtime') {
      this.added.get(model)?.delete(id)
      return
    }
    this.removed.set(key, { base: JSON.stringify(ref.entry.base) })
  }

  /** Changes weight / max_concurrency of an entry (all its endpoints) or of one endpoint. */
  patch(model: string, ref: MemberRef, patch: UpstreamPatch): void {
    const id = ref.kind === 'entry' ? ref.entry.id : ref.member.id
    const key = `${model}\u0000${id}`
    const base = JSON.stringify(ref.entry.base)
    const old = this.patches.get(key)
    const merged = old !== undefined && old.base === base ? { ...old.patch, ...patch } : patch
    this.patches.set(key, { base, patch: merged })
  }

  /**
   * Called before each pool rebuild: forgets the changes of models that are gone, run-time
   * upstreams whose name the file now uses, marks made on entries the file changed, and
   * marks on discovered endpoints whose address DNS no longer returns.
   * Returns the run-time upstreams it dropped, for the log.
   */
  retain(config: Config): string[] {
    const dropped: string[] = []
    const models = new Map(config.models.map((m) => [m.name, m]))
    // Marks first: whether a configured upstream still stands removed decides below whether a
    // run-time one of its name keeps its place.
    for (const [marks, what] of [
      [this.removed, 'its drain or delete'],
      [this.patches, 'its PATCH'],
    ] as const) {
      // All stale marks out first: one renumbered onto the id of another that moves on too
      // must find that id free.
      const stale: [string, string, Mark][] = []
      for (const [key, mark] of marks) {
        const [model, id] = key.split('\u0000') as [string, string]
        if (this.stillApplies(models.get(model), id, mark)) continue
        marks.delete(key)
        stale.push([model, id, mark])
      }
      for (const [model, id, mark] of stale) {
        const m = models.get(model)
        const moved = m === undefined ? undefined : this.renumbered(m, id, mark, marks)
        if (moved !== undefined) marks.set(`${model}\u0000${moved}`, mark)
        else dropped.push(`${model}/${id}: ${what} no longer applies (${this.whyGone(m, id)})`)
      }
    }
    for (const [model, byId] of this.added) {
      const m = models.get(model)
      if (m === undefined) {
        this.added.delete(model)
        for (const id of byId.keys()) dropped.push(`${model}/${id}: its model was removed`)
        continue
      }
      const configured = new Set<string>()
      m.upstreams.forEach((u, i) => {
        const id = upstreamId(u, i)
        if (!this.isMarked(this.removed, model, id, u)) configured.add(id)
      })
      for (const id of byId.keys()) {
        if (!configured.has(id)) continue
        byId.delete(id)
        this.patches.delete(`${model}\u0000${id}`)
        dropped.push(`${model}/${id}: the config now defines an upstream of that name`)
      }
    }
    return dropped
  }

  /** Run-time changes in force, for GET /admin/config (no secrets: ids only). */
  describe(): { added: string[]; removed: string[]; patched: Record<string, UpstreamPatch> } {
    const name = (key: string): string => key.replace('\u0000', '/')
    return {
      added: [...this.added].flatMap(([model, byId]) => [...byId.keys()].map((id) => `${model}/${id}`)),
      removed: [...this.removed.keys()].map(name),
      patched: Object.fromEntries([...this.patches].map(([k, m]) => [name(k), m.patch ?? {}])),
    }
  }

  /** Stops an upstream that left its pool: no new requests, in-flight ones finish, then close. */
  retire(upstream: Upstream, model: string, log: Logger): Promise<void> {
    const known = this.leaving.get(upstream)
    if (known !== undefined) return known.done
    const done = upstream.close().then(
      () => log.info({ model, upstream: upstream.id }, 'upstream drained and removed'),
      (err: unknown) => log.warn({ model, upstream: upstream.id, err: String(err) }, 'closing a removed upstream failed')
    )
    const entry = { model, done: done.finally(() => this.leaving.delete(upstream)) }
    this.leaving.set(upstream, entry)
    return entry.done
  }

  /** Upstreams still finishing requests after leaving their pool, with their model. */
  get retiring(): ReadonlyMap<Upstream, Retiring> {
    return this.leaving
  }

  private patchOf(model: string, id: string, base: UpstreamConfig): UpstreamPatch | undefined {
    const mark = this.patches.get(`${model}\u0000${id}`)
    return mark !== undefined && mark.base === JSON.stringify(base) ? mark.patch : undefined
  }

  private isMarked(marks: Map<string, Mark>, model: string, id: string, base: UpstreamConfig): boolean {
    const mark = marks.get(`${model}\u0000${id}`)
    return mark !== undefined && mark.base === JSON.stringify(base)
  }

  /**
   * An unnamed entry's id is its index: an entry inserted or removed before it renumbers it.
   * The id a mark made on such an entry (or one of its discovered endpoints) has now, when the
   * same entry is still in the file, unchanged, and not marked under that id already; else
   * undefined. Without this, a deleted upstream came back as soon as the file grew above it.
   */
  private renumbered(m: ModelConfig, id: string, mark: Mark, marks: Map<string, Mark>): string | undefined {
    const at = id.lastIndexOf('@')
    const entryId = at < 0 ? id : id.slice(0, at)
    if (!/^\d+$/.test(entryId)) return undefined
    const suffix = at < 0 ? '' : id.slice(at)
    for (let j = 0; j < m.upstreams.length; j++) {
      const u = m.upstreams[j]!
      if (u.name !== undefined || String(j) === entryId || JSON.stringify(u) !== mark.base) continue
      const moved = `${j}${suffix}`
      if (!marks.has(`${m.name}\u0000${moved}`) && this.stillApplies(m, moved, mark)) return moved
    }
    return undefined
  }

  /** Why a mark stopped applying, for the log. */
  private whyGone(m: ModelConfig | undefined, id: string): string {
    if (m === undefined) return 'its model was removed'
    const at = id.lastIndexOf('@')
    if (at >= 0 && this.basesOf(m, id.slice(0, at)).length > 0 && this.basesOf(m, id).length === 0) return 'DNS no longer returns its address, or its entry changed'
    return this.basesOf(m, id).length > 0 ? 'the file changed its entry' : 'the file no longer lists it'
  }

  /** Is the entry (or discovered endpoint) a mark was made on still there, unchanged? */
  private stillApplies(m: ModelConfig | undefined, id: string, mark: Mark): boolean {
    if (m === undefined) return false
    const bases = this.basesOf(m, id)
    if (bases.length > 0) return bases.includes(mark.base)
    const at = id.lastIndexOf('@')
    if (at < 0 || !this.basesOf(m, id.slice(0, at)).includes(mark.base)) return false
    const entry = JSON.parse(mark.base) as UpstreamConfig
    const addresses = this.addressBook.addresses(discoveryHost(entry))
    return addresses === undefined || addresses.includes(id.slice(at + 1))
  }

  /**
   * The JSON of the base specs of entry `id` in model `m`: configured, run-time, or both when
   * a run-time upstream took the name of a removed configured one.
   */
  private basesOf(m: ModelConfig, id: string): string[] {
    const out: string[] = []
    const i = m.upstreams.findIndex((u, j) => upstreamId(u, j) === id)
    if (i >= 0) out.push(JSON.stringify(m.upstreams[i]))
    const added = this.added.get(m.name)?.get(id)
    if (added !== undefined) out.push(JSON.stringify(added))
    return out
  }
}
