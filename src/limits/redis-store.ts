// A Redis store for limit counters, shared by every replica that points at the same Redis.
// One round trip per request: the admissions asked for in one turn of the event loop go
// together in one EVALSHA of the limits script (one write, one reply, however many requests
// arrived at once), which also carries the settlements of requests that finished since the
// last call; a short timer sends settlements on their own only when no request comes.
import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Logger } from '../observability/logger.js'
import { LIMITS_SCRIPT } from './redis-script.js'
import type { AdmitResult, Check, CheckResult, RateLimitStore, SettleOp } from './store.js'

export interface RedisStoreOptions {
  readonly url: string
  /** Prefix of every key. Defaults to `switchyard:`. */
  readonly prefix?: string
  /**
   * Longest wait for an admission (and for connecting) before it fails. Defaults to 250 ms.
   * A call that answers later still counts: what it took for admissions already failed is
   * given back.
   */
  readonly timeoutMs?: number
  /** Time source in ms; defaults to Redis' own clock (TIME), so replicas share one clock. */
  readonly now?: () => number
  /** How long settlements wait for a request to carry them. Defaults to 5 ms. */
  readonly settleDelayMs?: number
  readonly log?: Logger
  /** Told when a batch of settlements could not be applied (releases are kept and retried). */
  readonly onSettleError?: (err: unknown) => void
}

/** The script's reply: numbers, and a quota's remaining as a decimal string. */
type LimitsReply = (number | string)[]
type LimitsCommand = (numKeys: number, ...args: string[]) => Promise<LimitsReply>

/** An admission waiting for this turn's call. */
interface Pending {
  readonly checks: readonly Check[]
  readonly resolve: (r: AdmitResult) => void
  readonly reject: (err: unknown) => void
}

/** Releases kept for retry while Redis is away; beyond this the leases' TTL frees them. */
const MAX_PENDING = 10_000
const RETRY_MS = 1000
/** Admissions per script call at most. */
const MAX_BATCH = 128
/**
 * How long a call may stay unanswered before ioredis gives up on it, as a multiple of the
 * admission timeout (at least LATE_MIN_MS): a late answer within it is known, and what it
 * took is given back; past it the call's fate is unknown.
 */
const LATE_FACTOR = 20
const LATE_MIN_MS = 5000

export class RedisStore implements RateLimitStore {
  readonly shared = true
  /** Settlements made to give back what calls that answered too late took. */
  readonly stats = { undone: 0 }
  private readonly prefix: string
  private readonly settleDelayMs: number
  /** Made by connect(): ioredis is loaded only by gateways that use Redis. */
  private client: Redis | undefined = undefined
  private pending: SettleOp[] = []
  private timer: NodeJS.Timeout | undefined = undefined
  private batch: Pending[] = []
  /** A setImmediate will send the batch (set and cleared by it alone). */
  batchScheduled = false
  private down = false
  private closed = false
  /** Lease ids: unique across replicas (random prefix) and within this one (sequence). */
  private readonly leasePrefix = randomBytes(6).toString('hex')
  private leaseSeq = 0
  private readonly timeoutMs: number

  constructor(private readonly options: RedisStoreOptions) {
    this.prefix = options.prefix ?? 'switchyard:'
    this.settleDelayMs = options.settleDelayMs ?? 5
    this.timeoutMs = options.timeoutMs ?? 250
  }

  /** Connected and answering, as far as the client knows (for /readyz). */
  get reachable(): boolean {
    return this.client?.status === 'ready'
  }

  /** Connects, waiting at most `waitMs`; false if Redis is not there (it keeps trying). */
  async connect(waitMs = 2000): Promise<boolean> {
    const { Redis } = await import('ioredis')
    const { options } = this
    const timeout = this.timeoutMs
    const client = new Redis(options.url, {
      lazyConnect: true,
      // Fail at once while disconnected instead of queueing: on_error decides, nothing hangs.
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      // Admissions wait `timeout` (sendBatch); the call itself is given longer, so that an
      // answer that comes late (Redis paused, a slow fork) is seen and what it took undone.
      commandTimeout: Math.max(LATE_MIN_MS, LATE_FACTOR * timeout),
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
    return new Promise((resolve, reject) => {
      this.batch.push({ checks, resolve, reject })
      // A full batch goes at once: one script run never holds Redis for long.
      if (this.batch.length >= MAX_BATCH) return this.sendBatch()
      if (this.batchScheduled) return
      this.batchScheduled = true
      // After this turn's I/O callbacks: every request that arrived with this one joins it.
      setImmediate(sendBatch, this)
    })
  }

  /** One call for the admissions asked for since the last one, with queued settlements. */
  sendBatch(): void {
    if (this.batch.length === 0) return
    const batch = this.batch
    this.batch = []
    const carried = this.takePending()
    const keys: string[] = []
    const settlements = this.encodeSettlements(carried, keys)
    const requests: unknown[] = []
    const leases: string[] = []
    for (const { checks } of batch) {
      const lease = `${this.leasePrefix}-${++this.leaseSeq}`
      leases.push(lease)
      const encoded: unknown[] = []
      for (const c of checks) {
        keys.push(this.prefix + c.id)
        if (c.kind === 'rate') encoded.push(['r', c.limit, c.periodMs, c.cost])
        else if (c.kind === 'concurrency') encoded.push(['c', c.limit, c.ttlMs])
        else encoded.push(['q', c.limit, c.floor])
      }
      requests.push([lease, encoded])
    }
    const args = [this.nowArg(), JSON.stringify({ s: settlements, r: requests })]
    // One timer per call (not per request): past it the admissions fail (on_error decides),
    // and the call goes on; when it answers, what it admitted for them is given back.
    let late = false
    const timer = setTimeout(() => {
      late = true
      const err = new Error(`Redis did not answer within ${this.timeoutMs} ms`)
      for (const p of batch) p.reject(err)
    }, this.timeoutMs)
    this.run(keys, args).then(
      (out) => {
        clearTimeout(timer)
        if (late) return this.undo(out, batch, leases)
        let at = 0
        for (let i = 0; i < batch.length; i++) at = resolveOne(out, at, batch[i]!, leases[i]!)
      },
      (err: unknown) => {
        clearTimeout(timer)
        this.requeue(carried)
        // The call may have run after all (no answer, not a refusal): free any lease it took.
        batch.forEach(({ checks }, i) => {
          for (const c of checks) if (c.kind === 'concurrency') this.requeue([{ kind: 'release', id: c.id, lease: leases[i] }])
        })
        if (!late) for (const p of batch) p.reject(err)
      }
    )
  }

  /**
   * A call answered after its admissions had failed: each request it admitted was refused or
   * let in unchecked meanwhile, so what it took goes back (tokens and requests refunded,
   * leases freed), as if it had never been asked. Its settlements did apply.
   */
  private undo(out: LimitsReply, batch: readonly Pending[], leases: readonly string[]): void {
    const ops: SettleOp[] = []
    let at = 0
    for (let i = 0; i < batch.length; i++) {
      const { checks } = batch[i]!
      if (out[at] === 1) {
        for (const c of checks) {
          if (c.kind === 'rate') ops.push({ kind: 'refund', id: c.id, limit: c.limit, periodMs: c.periodMs, amount: c.cost })
          else if (c.kind === 'concurrency') ops.push({ kind: 'release', id: c.id, lease: leases[i] })
        }
      }
      at += 2 + checks.length * 3
    }
    this.settle(ops)
    this.stats.undone += ops.length
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
    const args = [this.nowArg(), JSON.stringify({ s: this.encodeSettlements(carried, keys), r: [] })]
    try {
      await this.run(keys, args)
    } catch (err) {
      this.requeue(carried)
      this.options.onSettleError?.(err)
    }
  }

  async close(): Promise<void> {
    // Bounded: a paused Redis must not hold a shutdown for the late-answer window.
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.flush(), new Promise<void>((resolve) => (timer = setTimeout(resolve, this.timeoutMs)))])
    clearTimeout(timer)
    this.closed = true
    clearTimeout(this.timer)
    this.client?.disconnect()
  }

  private run(keys: string[], args: string[]): Promise<LimitsReply> {
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
   * A failed call may or may not have run: only what is idempotent is sent again. Releases
   * as they were; spend as "at least the total it made" (the sum raised to floor + amount,
   * which a second application leaves as it is), so spend recorded while Redis was away
   * reaches the other replicas even if this one gets no other request for the key.
   * Refunds are dropped rather than risk applying them twice.
   */
  private requeue(ops: readonly SettleOp[]): void {
    if (this.closed) return
    for (const op of ops) {
      if (this.pending.length >= MAX_PENDING) break
      if (op.kind === 'release') this.pending.push(op)
      else if (op.kind === 'add') this.pending.push(op.amount === 0 ? op : { kind: 'add', id: op.id, amount: 0, floor: op.floor + op.amount })
    }
    if (this.pending.length > 0) this.timer ??= setTimeout(flushTimer, RETRY_MS, this)
  }

  private encodeSettlements(ops: readonly SettleOp[], keys: string[]): unknown[] {
    const out: unknown[] = []
    for (const op of ops) {
      keys.push(this.prefix + op.id)
      if (op.kind === 'refund') out.push(['f', op.periodMs / op.limit, op.amount])
      // A store is only handed back its own leases: here, lease id strings.
      else if (op.kind === 'release') out.push(['x', op.lease as string])
      else out.push(['a', op.amount, op.floor])
    }
    return out
  }

}

const EMPTY: SettleOp[] = []

function flushTimer(store: RedisStore): void {
  void store.flush()
}

function sendBatch(store: RedisStore): void {
  store.batchScheduled = false
  store.sendBatch()
}

/** Reads one request's answer from `out` at `at`, settles its promise; returns where the next starts. */
function resolveOne(out: LimitsReply, at: number, p: Pending, lease: string): number {
  const allowed = out[at] === 1
  const results: CheckResult[] = []
  for (let i = 0; i < p.checks.length; i++) {
    const j = at + 2 + i * 3
    const r = { ok: out[j] === 1, remaining: Number(out[j + 1]), resetMs: Number(out[j + 2]) }
    results.push(allowed && p.checks[i]!.kind === 'concurrency' ? { ...r, lease } : r)
  }
  p.resolve({ allowed, retryAfterMs: Number(out[at + 1]), results })
  return at + 2 + p.checks.length * 3
}
