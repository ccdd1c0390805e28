// KeyRing: the in-memory index of every key (config and store), looked up by hash on each
// request with no I/O. It is rebuilt when the config is swapped, when this process changes
// the store, and when a poll sees that another process (the CLI, another replica sharing the
// file) changed it.
import type { LimitSet } from '../config/limits-schema.js'
import type { Config } from '../config/schema.js'
import type { Logger } from '../observability/logger.js'
import type { KeyStore, StoredKey } from './key-store.js'
import { hashHex, hashKeyHex, sameText, type VirtualKey } from './keys.js'
import { activeLimits } from '../limits/active-limits.js'

const kLastKey = Symbol('switchyard.lastKey')

/** The last key found on a connection, and the index that found it. */
interface LastKey {
  readonly presented: string
  /** The Authorization header the key came in, whole; undefined when it came in another header. */
  readonly authorization: string | undefined
  readonly key: VirtualKey
  readonly index: ReadonlyMap<string, VirtualKey>
}

type MemoHolder = { [kLastKey]?: LastKey }

export class KeyRing {
  private byHash = new Map<string, VirtualKey>()
  private builtFor: Config | undefined = undefined
  private storeKeys: readonly StoredKey[] = []
  private storeVersion = -1

  constructor(
    private readonly store: KeyStore | undefined,
    private readonly log: Logger
  ) {}

  /**
   * The key a client presented, if it is known (revoked and expired ones included).
   * `connection` (the socket) remembers the last key found on it: a keep-alive client that
   * sends the same key again is not hashed again. The memo holds the index it came from, so
   * a reload or a revocation (a new index) is never missed. `authorization`: the header the
   * key came in, when it came in `Authorization` (for remembered()).
   */
  lookup(config: Config, presented: string, connection?: object, authorization?: string): VirtualKey | undefined {
    if (config !== this.builtFor) this.rebuild(config)
    const memo = connection as MemoHolder | undefined
    const last = memo?.[kLastKey]
    // Constant time even here: behind a proxy that pools connections, the key remembered on
    // this connection may be another client's.
    if (last !== undefined && last.index === this.byHash && sameText(last.presented, presented)) return last.key
    const hex = hashKeyHex(presented)
    const key = this.byHash.get(hex)
    // The map found a candidate by hash; the constant-time compare confirms it.
    if (key === undefined || !sameText(key.hash, hex)) return undefined
    if (memo !== undefined) memo[kLastKey] = { presented, authorization, key, index: this.byHash }
    return key
  }

  /**
   * The key this connection presented last, if `authorization` is the very header it came in:
   * compared whole (in constant time), so the common case makes no substring and reads no
   * other header. undefined: not remembered (then lookup()).
   */
  remembered(config: Config, authorization: string, connection: object): VirtualKey | undefined {
    if (config !== this.builtFor) this.rebuild(config)
    const last = (connection as MemoHolder)[kLastKey]
    if (last === undefined || last.authorization === undefined || last.index !== this.byHash) return undefined
    return sameText(last.authorization, authorization) ? last.key : undefined
  }

  /** Every key of the index, by name (config keys win over store keys of the same name). */
  list(config: Config): VirtualKey[] {
    if (config !== this.builtFor) this.rebuild(config)
    const seen = new Map<string, VirtualKey>()
    for (const k of this.byHash.values()) {
      const prev = seen.get(k.name)
      if (prev === undefined || (prev.revokedAt !== undefined && k.revokedAt === undefined)) seen.set(k.name, k)
    }
    return [...seen.values()]
  }

  /** Re-reads the store if it changed since the last read; call from a timer or after a change. */
  refresh(): void {
    if (this.store === undefined) return
    const version = this.store.version()
    if (version === this.storeVersion) return
    this.storeVersion = version
    this.storeKeys = this.store.keys()
    if (this.builtFor !== undefined) this.rebuild(this.builtFor)
  }

  private rebuild(config: Config): void {
    const next = new Map<string, VirtualKey>()
    const configNames = new Set<string>()
    for (const k of config.auth?.keys ?? []) {
      configNames.add(k.name)
      const key = toVirtualKey(k, 'config', undefined)
      next.set(key.hash, key)
    }
    for (const k of this.storeKeys) {
      const key = toVirtualKey(k, 'store', k.revoked_at)
      if (configNames.has(k.name) || next.has(key.hash)) {
        if (k.revoked_at === undefined) this.log.warn({ key_name: k.name }, 'a stored key has the name or hash of a config key; the config key wins')
        continue
      }
      next.set(key.hash, key)
    }
    this.byHash = next
    this.builtFor = config
  }
}

/** What config keys and stored keys have in common. */
interface KeyGrants {
  readonly name: string
  readonly hash: string
  readonly models?: readonly string[] | undefined
  readonly limits?: LimitSet | undefined
  readonly budget_usd?: number | undefined
  readonly expires?: number | undefined
}

function toVirtualKey(k: KeyGrants, source: VirtualKey['source'], revokedAt: number | undefined): VirtualKey {
  return {
    name: k.name,
    hash: hashHex(k.hash),
    models: k.models === undefined ? undefined : new Set(k.models),
    // In the limiter's one shape, and undefined when the key sets no limit.
    limits: activeLimits(k.limits),
    budgetUsd: k.budget_usd,
    expiresAt: k.expires,
    revokedAt,
    source,
  }
}
