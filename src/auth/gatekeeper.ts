// Gatekeeper: virtual keys, allow-lists, rate limits and budgets, composed and wired into
// the request lifecycle (hooks) and the admin API. The gateway owns its start and stop.
//
//   onRequest   authenticate          key → ctx.key                        401
//   preHandler  checkModelAccess      allow-list                            403
//               limiter.admit         every limit in one store call         429 / 503
//   onFallback  limiter.admitFallback the fallback model's own limits       429 / 503 (skipped)
//   onResponse  limiter.settle        tokens corrected, leases freed, spend added
import { isIP } from 'node:net'
import { AdminError, type AdminServer } from '../admin/server.js'
import { ConfigError } from '../config/load.js'
import type { Config } from '../config/schema.js'
import { MemoryStore } from '../limits/memory-store.js'
import { RateLimiter } from '../limits/rate-limiter.js'
import { RedisStore } from '../limits/redis-store.js'
import { SpendLedger } from '../limits/spend-ledger.js'
import type { RateLimitStore } from '../limits/store.js'
import type { TokenEstimator } from '../tokens/token-estimate.js'
import type { Logger } from '../observability/logger.js'
import type { ReadinessCheck } from '../server/handler.js'
import type { Hooks } from '../server/hooks.js'
import { authenticate, checkModelAccess } from './authenticate.js'
import { createKey, KeyAdminError, listKeys, revokeKey } from './key-admin.js'
import { KeyRing } from './key-ring.js'
import { KeyStore } from './key-store.js'

/** How often the store is polled for keys changed elsewhere, and spend is written. */
const SYNC_MS = 1000

export interface GatekeeperOptions {
  readonly log: Logger
  readonly hooks: Hooks
  /** /readyz's conditions: the limits store, when it is Redis and on_error is closed. */
  readonly readiness: ReadinessCheck[]
  readonly admin: AdminServer
  /** The config in force (it changes on reload). */
  readonly config: () => Config
  /** The gateway's token estimator (shared with the usage fallback; it preloads vocabularies). */
  readonly estimator: TokenEstimator
}

export class Gatekeeper {
  readonly keyStore: KeyStore | undefined
  readonly ring: KeyRing
  readonly ledger: SpendLedger
  readonly limitStore: RateLimitStore
  readonly limiter: RateLimiter
  private readonly estimator: TokenEstimator
  private readonly log: Logger
  private readonly startConfig: Config
  private timer: NodeJS.Timeout | undefined = undefined
  private syncFailing = false

  constructor(config: Config, private readonly options: GatekeeperOptions) {
    this.log = options.log
    this.startConfig = config
    this.keyStore = config.store === undefined ? undefined : openKeyStore(config.store.sqlite)
    this.ring = new KeyRing(this.keyStore, this.log)
    this.ring.refresh()
    this.ledger = new SpendLedger(this.keyStore, this.log)
    this.estimator = options.estimator
    const state = config.state
    this.limitStore =
      state.redis === undefined
        ? new MemoryStore()
        : new RedisStore({
            url: state.redis,
            prefix: state.prefix,
            timeoutMs: state.timeout,
            log: this.log,
            onSettleError: () => this.limiter.stats.storeErrors++,
          })
    this.limiter = new RateLimiter({ store: this.limitStore, ledger: this.ledger, estimator: this.estimator, log: this.log })
    options.hooks.onRequest.push(authenticate(this.ring))
    options.hooks.preHandler.push(checkModelAccess, this.limiter.admit)
    options.hooks.onFallback.push(this.limiter.admitFallback)
    options.hooks.onResponse.push(this.limiter.settle)
    options.readiness.push(() => this.limitsReadiness())
    this.registerRoutes(options.admin)
  }

  /** With Redis down and on_error closed every request is refused (503): not ready. */
  private limitsReadiness(): Record<string, unknown> | undefined {
    const store = this.limitStore
    if (!(store instanceof RedisStore) || store.reachable || this.options.config().state.on_error !== 'closed') return undefined
    return { limits_store: 'unavailable' }
  }

  async start(): Promise<void> {
    const config = this.startConfig
    if (this.limitStore instanceof RedisStore) {
      const ok = await this.limitStore.connect(Math.max(1000, config.state.timeout * 4))
      if (!ok) this.log.warn({ on_error: config.state.on_error }, 'redis not reachable at start; state.on_error applies until it is')
    }
    this.timer = setInterval(() => this.sync(), SYNC_MS).unref()
    warnIfOpen(config, this.log)
  }

  /** A reload: keys, limits and budgets follow the new config; the store and Redis do not. */
  apply(config: Config): void {
    const was = this.startConfig
    if (config.store?.sqlite !== was.store?.sqlite || config.state.redis !== was.state.redis || config.state.prefix !== was.state.prefix) {
      this.log.warn('store and state.redis are read at start only: restart the gateway to change them')
    }
    warnIfOpen(config, this.log)
  }

  async close(): Promise<void> {
    clearInterval(this.timer)
    this.ledger.flush()
    await this.limitStore.close()
    this.keyStore?.close()
  }

  /** Picks up keys changed by other processes and writes spend; runs on a timer, never per request. */
  private sync(): void {
    try {
      this.ring.refresh()
      if (this.syncFailing) this.log.info('key store readable again')
      this.syncFailing = false
    } catch (err) {
      if (!this.syncFailing) this.log.error({ err: String(err) }, 'reading keys from the store failed; the last known keys stay in force')
      this.syncFailing = true
    }
    this.ledger.flush()
  }

  private registerRoutes(admin: AdminServer): void {
    const config = this.options.config
    admin.route('GET', '/admin/keys', () => ({
      body: { object: 'list', data: listKeys(config(), this.keyStore?.keys() ?? [], (n) => this.ledger.spent(n)) },
    }))
    admin.route('POST', '/admin/keys', ({ body }) => {
      const created = adminCall(() => createKey(this.keyStore, config(), body))
      this.ring.refresh()
      this.log.info({ key_name: created.info.name }, 'key created through the admin API')
      return { status: 201, body: { ...created.info, key: created.key ?? null } }
    })
    admin.route('DELETE', '/admin/keys/:name', ({ params }) => {
      const configKeyStays = adminCall(() => revokeKey(this.keyStore, config(), params.name!))
      this.ring.refresh()
      this.log.info({ key_name: params.name }, 'key revoked through the admin API')
      return {
        body: {
          name: params.name,
          status: 'revoked',
          ...(configKeyStays && { note: 'The stored key is revoked; the config key of the same name stays in force: remove it there and reload.' }),
        },
      }
    })
    admin.route('GET', '/admin/limits', () => ({
      body: {
        store: this.limitStore instanceof RedisStore ? 'redis' : 'memory',
        on_error: config().state.on_error,
        degraded: this.limiter.degraded,
        ...this.limiter.stats,
      },
    }))
  }
}

/** A store that cannot be opened is a config problem: reported as one, by its field. */
function openKeyStore(file: string): KeyStore {
  try {
    return new KeyStore(file)
  } catch (err) {
    throw new ConfigError('(config)', [`store.sqlite: cannot open ${file}: ${(err as Error).message}`])
  }
}

function adminCall<T>(fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    if (err instanceof KeyAdminError) {
      throw new AdminError(err.status, err.message, err.status === 409 ? 'conflict' : err.status === 404 ? 'not_found' : 'invalid_request', err.detail)
    }
    throw err
  }
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true
  if (isIP(host) === 4) return host.startsWith('127.')
  return host === '::1'
}

/** No auth: say so; louder when the listener is reachable from other machines. */
function warnIfOpen(config: Config, log: Logger): void {
  if (config.auth !== undefined && config.auth.mode === 'keys') {
    if (config.auth.keys.length === 0 && config.store === undefined) {
      log.warn('auth.mode is keys but no key is configured and there is no store: every request will get 401')
    }
    return
  }
  const host = config.server.host
  if (isLoopback(host)) {
    log.warn({ host }, 'auth is off: any local process can use the models (add an auth section to require keys)')
  } else {
    log.error(
      { host },
      `AUTH IS OFF ON A PUBLIC LISTENER: anyone who can reach ${host}:${config.server.port} can use every model. Add "auth: { mode: keys, keys: [...] }" (see README, Virtual keys)`
    )
  }
}
