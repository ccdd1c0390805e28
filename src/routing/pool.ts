// Pool: the members serving one model, and pick() through its Balancer. Membership
// changes swap a new member list and balancer in (never patch them in place).
import type { Balancer, PickFilter } from '../balancing/balancer.js'
import { createBalancer, type StrategyName } from '../balancing/registry.js'
import type { AttemptObserver, Upstream } from './upstream.js'

/**
 * Which members a pick may use: 'up' ones normally; in panic mode first those only active
 * health checks hold out ('unchecked': live traffic has not ejected or cooled them down), then
 * every member that is not draining or cooling down after a 429 ('any'). A 429's Retry-After
 * is the upstream asking for a pause: panic does not override it (a fleet that is all rate
 * limited would get every request once per member, and a provider may lengthen the penalty).
 */
type Eligibility = 'up' | 'unchecked' | 'any'

/** Accepts members that are eligible, have capacity, and were not tried yet. */
class Eligible implements PickFilter<Upstream> {
  now = 0
  constructor(
    readonly exclude: readonly Upstream[] | undefined,
    readonly affinityKey: string | undefined,
    readonly mode: Eligibility
  ) {}
  accepts(u: Upstream): boolean {
    if (this.exclude !== undefined && this.exclude.includes(u)) return false
    if (!u.hasCapacity()) return false
    switch (this.mode) {
      case 'up':
        return u.isUp(this.now)
      case 'unchecked':
        return !u.draining && this.now >= u.ejectedUntil && this.now >= u.cooldownUntil
      case 'any':
        return !u.draining && this.now >= u.cooldownUntil
    }
  }
}

const PLAIN = new Eligible(undefined, undefined, 'up')

export interface PoolOptions {
  readonly strategy: StrategyName
  readonly maxLoadFactor?: number
}

export class Pool {
  private balancer: Balancer<Upstream>
  private _members: readonly Upstream[]
  private _observer: AttemptObserver | undefined = undefined

  constructor(
    readonly model: string,
    members: readonly Upstream[],
    readonly options: PoolOptions
  ) {
    this._members = members
    this.balancer = this.build(members)
  }

  get members(): readonly Upstream[] {
    return this._members
  }

  /** Told of every member's finished attempts (outlier detection, the admission queue). */
  get observer(): AttemptObserver | undefined {
    return this._observer
  }

  set observer(observer: AttemptObserver | undefined) {
    this._observer = observer
    for (const u of this._members) u.observer = observer
  }

  private build(members: readonly Upstream[]): Balancer<Upstream> {
    return createBalancer(this.options.strategy, members, { maxLoadFactor: this.options.maxLoadFactor })
  }

  /**
   * Picks a member for a new attempt, or undefined when none is eligible.
   * `exclude` holds the members this request already tried.
   */
  pick(exclude?: readonly Upstream[], affinityKey?: string): Upstream | undefined {
    const filter =
      exclude === undefined && affinityKey === undefined
        ? PLAIN
        : new Eligible(exclude, affinityKey, 'up')
    filter.now = Date.now()
    return this.balancer.pick(filter)
  }

  /**
   * Panic mode (Envoy): when no member is up, try them all rather than fail everything;
   * members that live traffic has not ejected or cooled down first (the health checks may be
   * what is wrong, say probes timing out on an overloaded machine), never one in a 429's
   * cooldown.
   */
  pickPanic(exclude?: readonly Upstream[], affinityKey?: string): Upstream | undefined {
    const now = Date.now()
    if (this.upCount(now) > 0) return undefined
    const soft = new Eligible(exclude, affinityKey, 'unchecked')
    soft.now = now
    const picked = this.balancer.pick(soft)
    if (picked !== undefined) return picked
    const any = new Eligible(exclude, affinityKey, 'any')
    any.now = now
    return this.balancer.pick(any)
  }

  upCount(now = Date.now()): number {
    let n = 0
    for (const u of this._members) if (u.isUp(now)) n++
    return n
  }

  /** True when some member is up but every up member is at max_concurrency. */
  isSaturated(now = Date.now()): boolean {
    let up = 0
    for (const u of this._members) {
      if (!u.isUp(now)) continue
      up++
      if (u.hasCapacity()) return false
    }
    return up > 0
  }

  find(id: string): Upstream | undefined {
    return this._members.find((u) => u.id === id)
  }

  add(upstream: Upstream): void {
    this.setMembers([...this._members, upstream])
  }

  /** Takes it out of rotation at once; the caller closes it once in-flight requests end. */
  remove(upstream: Upstream): void {
    this.setMembers(this._members.filter((u) => u !== upstream))
  }

  setMembers(members: readonly Upstream[]): void {
    this.balancer = this.build(members)
    this._members = members
    if (this._observer !== undefined) for (const u of members) u.observer = this._observer
  }
}
