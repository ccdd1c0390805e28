// DNS discovery: hosts of `discovery: dns` upstreams are resolved again every
// `discovery_interval`; every A/AAAA address becomes one pool member (membership.ts expands
// the entry). A change of the address set calls onChange, which rebuilds the pools: new
// addresses get traffic at once, vanished ones drain. A Kubernetes headless service works so.
import { lookup } from 'node:dns/promises'
import type { Logger } from '../observability/logger.js'
import type { AddressBook } from './membership.js'

/** Resolves a host to its addresses. Injectable, so tests need no real DNS. */
export interface Resolver {
  /** Every address of the host; [] when it has none. Rejects when the lookup itself failed. */
  resolve(host: string): Promise<string[]>
}

/** The system's resolver (getaddrinfo: /etc/hosts, then DNS), A and AAAA records. */
export const systemResolver: Resolver = {
  async resolve(host: string): Promise<string[]> {
    try {
      const found = await lookup(host, { all: true, order: 'ipv4first' })
      return found.map((a) => a.address)
    } catch (err) {
      // The name exists nowhere, or has no address: an answer, not a failure.
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOTFOUND' || code === 'ENODATA') return []
      throw err
    }
  },
}

export interface DnsDiscoveryOptions {
  /** Defaults to systemResolver. */
  readonly resolver?: Resolver
  /** Told when a host's address set changed (not on every lookup). */
  readonly onChange: (host: string) => void
  readonly log: Logger
}

interface HostState {
  addresses: readonly string[] | undefined
  intervalMs: number
  timer: NodeJS.Timeout | undefined
  /** The lookup in progress, so prime() and the timer never run two at once. */
  pending: Promise<boolean> | undefined
  /** The last lookup failed (logged once per run of failures). */
  failing: boolean
}

export class DnsDiscovery implements AddressBook {
  private readonly hosts = new Map<string, HostState>()
  private readonly resolver: Resolver
  private stopped = false

  constructor(private readonly options: DnsDiscoveryOptions) {
    this.resolver = options.resolver ?? systemResolver
  }

  addresses(host: string): readonly string[] | undefined {
    return this.hosts.get(host)?.addresses
  }

  /**
   * Resolves, every interval, exactly the hosts given (host → interval ms): new hosts start
   * (their first lookup right away), hosts no longer listed stop and are forgotten.
   */
  track(wanted: ReadonlyMap<string, number>): void {
    if (this.stopped) return
    for (const [host, state] of this.hosts) {
      if (wanted.has(host)) continue
      clearTimeout(state.timer)
      this.hosts.delete(host)
    }
    for (const [host, intervalMs] of wanted) {
      const state = this.hosts.get(host)
      if (state === undefined) {
        const fresh: HostState = { addresses: undefined, intervalMs, timer: undefined, pending: undefined, failing: false }
        this.hosts.set(host, fresh)
        this.schedule(host, fresh, 0)
      } else if (state.intervalMs !== intervalMs) {
        state.intervalMs = intervalMs
        clearTimeout(state.timer)
        this.schedule(host, state, intervalMs)
      }
    }
  }

  /**
   * Waits (at most `timeoutMs`) for a first answer on each host not resolved yet, so a pool
   * has its endpoints before it serves. Hosts it has not seen yet are resolved once here.
   */
  async prime(hosts: Iterable<string>, timeoutMs: number): Promise<void> {
    const lookups: Promise<unknown>[] = []
    for (const host of hosts) {
      const state = this.hosts.get(host)
      if (state?.addresses !== undefined) continue
      lookups.push(state === undefined ? this.lookupOnce(host) : this.refresh(host))
    }
    if (lookups.length === 0) return
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))
    await Promise.race([Promise.allSettled(lookups), timeout])
    clearTimeout(timer)
  }

  /** Resolves a tracked host now; true when its address set changed. */
  refresh(host: string): Promise<boolean> {
    const state = this.hosts.get(host)
    if (state === undefined) return Promise.resolve(false)
    state.pending ??= this.resolveInto(host, state).finally(() => (state.pending = undefined))
    return state.pending
  }

  stop(): void {
    this.stopped = true
    for (const state of this.hosts.values()) clearTimeout(state.timer)
  }

  /** A host not tracked yet: remember its answer so the first track() need not wait. */
  private async lookupOnce(host: string): Promise<void> {
    const state: HostState = { addresses: undefined, intervalMs: Infinity, timer: undefined, pending: undefined, failing: false }
    this.hosts.set(host, state)
    await this.refresh(host)
  }

  private schedule(host: string, state: HostState, delayMs: number): void {
    if (this.stopped || !Number.isFinite(delayMs)) return
    state.timer = setTimeout(() => {
      void this.refresh(host).finally(() => {
        if (this.hosts.get(host) === state) this.schedule(host, state, state.intervalMs)
      })
    }, delayMs)
    state.timer.unref()
  }

  private async resolveInto(host: string, state: HostState): Promise<boolean> {
    let found: string[]
    try {
      found = await this.resolver.resolve(host)
    } catch (err) {
      // A failed lookup keeps the last known addresses: a DNS outage must not empty a pool.
      if (!state.failing) this.options.log.warn({ host, err: String(err) }, 'DNS discovery lookup failed; keeping the last addresses')
      state.failing = true
      return false
    }
    if (state.failing) this.options.log.info({ host }, 'DNS discovery lookups succeed again')
    state.failing = false
    const next = [...new Set(found)].sort()
    const prev = state.addresses
    if (this.stopped || this.hosts.get(host) !== state) return false
    if (prev !== undefined && prev.length === next.length && prev.every((a, i) => a === next[i])) return false
    state.addresses = Object.freeze(next)
    this.options.log.info({ host, addresses: next, before: prev ?? [] }, 'DNS discovery: address set changed')
    this.options.onChange(host)
    return true
  }
}
