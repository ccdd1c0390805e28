// A Redis store for limit counters, shared by every replica that points at the same Redis.
// One round trip per request: each admit() is one EVALSHA of the limits script, and it also
// carries the settlements of requests that finished since the last call; a short timer
// sends settlements on their own only when no request comes to carry them.
import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Logger } from '../observability/logger.js'
import { LIMITS_SCRIPT } from './redis-script.js'
import type { AdmitResult, Check, CheckResult, RateLimitStore, SettleOp } from './store.js'

export interface RedisStoreOptions {
  readonly url: string
  /** Prefix of every key. Defaults to `switchyard:`. */
  readonly prefix?: string
  /** Longest wait for one call (and for connecting) before it fails. Defaults to 250 ms. */
  readonly timeoutMs?: number
  /** Time source in ms; defaults to Redis' own clock (TIME), so replicas share one clock. */
  readonly now?: () => number
  /** How long settlements wait for a request to carry them. Defaults to 5 ms. */
  readonly settleDelayMs?: number
  readonly log?: Logger
  /** Told when a batch of settlements could not be applied (releases are kept and retried). */
  readonly onSettleError?: (err: unknown) => void
}

type LimitsCommand = (numKeys: number, ...args: string[]) => Promise<number[]>

/** Releases kept for retry while Redis is away; beyond this the leases' TTL frees them. */
const MAX_PENDING = 10_000
const RETRY_MS = 1000

export class RedisStore implements RateLimitStore {
  readonly shared = true
  private readonly prefix: string
  private readonly settleDelayMs: number
  /** Made by connect(): ioredis is loaded only by gateways that use Redis. */
  private client: Redis | undefined = undefined
  private pending: SettleOp[] = []
  private timer: NodeJS.Timeout | undefined = undefined
  private down = false
  private closed = false
  /** Lease ids: unique across replicas (random prefix) and within this one (sequence). */
  private readonly leasePrefix = randomBytes(6).toString('hex')
  private leaseSeq = 0

  constructor(private readonly options: RedisStoreOptions) {
    this.prefix = options.prefix ?? 'switchyard:'
    this.settleDelayMs = options.settleDelayMs ?? 5
  }

  /** Connects, waiting at most `waitMs`; false if Redis is not there (it keeps trying). */
  async connect(waitMs = 2000): Promise<boolean> {
    const { Redis } = await import('ioredis')
    const { options } = this
    const timeout = options.timeoutMs ?? 250
    const client = new Redis(options.url, {
      lazyConnect: true,
      // Fail at once while disconnected instead of queueing: on_error decides, nothing hangs.
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      commandTimeout: timeout,
      connectTimeout: Math.max(1000, timeout * 4),
      // ioredis reconnects by itself, backing off up to 2 s between tries.
      retryStrategy: (times) => Math.min(100 * times, 2000),
    })
    client.defineCommand('switchyardLimits', { lua: LIMITS_SCRIPT })
    client.on('error', (err: Error) => {
      if (this.down || this.closed) return
      this.down = true
      options.log?.error({ err: err.message }, 'redis unreachable; retrying in the background (state.on_error applies meanwhile)')
    })
    client.on('ready', () => {
      if (this.down) options.log?.info('redis reachable again')
      this.down = false
    })
    this.client = client
    const ready = new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), waitMs)
      client.once('ready', () => {
        clearTimeout(t)
        resolve(true)
      })
    })
    client.connect().catch(() => {
      // Reported by the 'error' listener; reconnection continues on its own.
    })
    return ready
  }

  admit(checks: readonly Check[]): Promise<AdmitResult> {
    const lease = `${this.leasePrefix}-${++this.leaseSeq}`
    const carried = this.takePending()
    const keys: string[] = []
    const args: string[] = [this.nowArg(), lease, String(carried.length), String(checks.length)]
    this.encodeSettlements(carried, keys, args)
    for (const c of checks) {
      keys.push(this.prefix + c.id)
      if (c.kind === 'rate') args.push('r', String(c.limit), String(c.periodMs), String(c.cost))
      else if (c.kind === 'concurrency') args.push('c', String(c.limit), String(c.ttlMs), '')
      else args.push('q', String(c.limit), String(c.floor), '')
    }
    return this.run(keys, args).then(
      (out) => parse(out, checks, lease),
      (err: unknown) => {
        this.requeue(carried)
        // The call may have run after all (a timeout): free any lease it took.
        for (const c of checks) if (c.kind === 'concurrency') this.requeue([{ kind: 'release', id: c.id, lease }])
        throw err
      }
    )
  }

  settle(ops: readonly SettleOp[]): void {
    if (ops.length === 0) return
    for (const op of ops) this.pending.push(op)
    this.timer ??= setTimeout(flushTimer, this.settleDelayMs, this)
  }

  /** Sends the settlements no request has carried yet. */
  async flush(): Promise<void> {
    const carried = this.takePending()
    if (carried.length === 0) return
    const keys: string[] = []
    const args: string[] = [this.nowArg(), '', String(carried.length), '0']
    this.encodeSettlements(carried, keys, args)
    try {
      await this.run(keys, args)
    } catch (err) {
      this.requeue(carried)
      this.options.onSettleError?.(err)
    }
  }

  async close(): Promise<void> {
    await this.flush()
    this.closed = true
    clearTimeout(this.timer)
    this.client?.disconnect()
  }

  private run(keys: string[], args: string[]): Promise<number[]> {
    if (this.client === undefined) return Promise.reject(new Error('the Redis store is not connected'))
    return (this.client as unknown as { switchyardLimits: LimitsCommand }).switchyardLimits(keys.length, ...keys, ...args)
  }

  private nowArg(): string {
    return this.options.now === undefined ? '-1' : String(this.options.now())
  }

  private takePending(): SettleOp[] {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.pending.length === 0) return EMPTY
    const ops = this.pending
    this.pending = []
    return ops
  }

  /**
   * A failed call may or may not have run: only releases (idempotent) are sent again.
   * Refunds and spend are dropped rather than risk applying them twice; spend is also
   * in the SpendLedger, whose floor restores it.
   */
  private requeue(ops: readonly SettleOp[]): void {
    if (this.closed) return
    for (const op of ops) if (op.kind === 'release' && this.pending.length < MAX_PENDING) this.pending.push(op)
    if (this.pending.length > 0) this.timer ??= setTimeout(flushTimer, RETRY_MS, this)
  }

  private encodeSettlements(ops: readonly SettleOp[], keys: string[], args: string[]): void {
    for (const op of ops) {
      keys.push(this.prefix + op.id)
      if (op.kind === 'refund') args.push('f', String(op.periodMs / op.limit), String(op.amount), '')
      // A store is only handed back its own leases: here, lease id strings.
      else if (op.kind === 'release') args.push('x', op.lease as string, '', '')
      else args.push('a', String(op.amount), String(op.floor), '')
    }
  }
}

const EMPTY: SettleOp[] = []

function flushTimer(store: RedisStore): void {
  void store.flush()
}

function parse(out: number[], checks: readonly Check[], lease: string): AdmitResult {
  const allowed = out[0] === 1
  const results: CheckResult[] = []
  for (let i = 0; i < checks.length; i++) {
    const j = 2 + i * 3
    const r = { ok: out[j] === 1, remaining: Number(out[j + 1]), resetMs: Number(out[j + 2]) }
    results.push(allowed && checks[i]!.kind === 'concurrency' ? { ...r, lease } : r)
  }
  return { allowed, retryAfterMs: Number(out[1]), results }
}
