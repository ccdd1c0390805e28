import { describe, expect, it } from 'vitest'
import { LiveStats, type FinishedRequest } from '../../src/observability/live-stats.js'

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0)

function clock(start = T0): { now: () => number; advance: (ms: number) => void; set: (ms: number) => void } {
  let t = start
  return { now: () => t, advance: (ms) => (t += ms), set: (ms) => (t = ms) }
}

function req(over: Partial<FinishedRequest> = {}): FinishedRequest {
  return {
    id: 'req-1',
    time: T0,
    key: null,
    model: 'chat',
    served_model: 'chat',
    upstream: 'u0',
    status: 200,
    stream: true,
    prompt_tokens: 10,
    completion_tokens: 20,
    ttft_ms: 100,
    duration_ms: 1000,
    error: null,
    failed: false,
    upstreamRef: undefined,
    ...over,
  }
}

describe('LiveStats per-second buckets', () => {
  it('counts requests, errors and completion tokens in the second they finish', () => {
    const c = clock()
    const s = new LiveStats({ now: c.now })
    s.record(req())
    s.record(req({ status: 502, failed: true, completion_tokens: null }))
    c.advance(1000)
    s.record(req({ completion_tokens: 5 }))
    const points = s.points(1)
    const last = points.slice(-2)
    expect(last.map((p) => [p.t, p.requests, p.errors, p.tokens])).toEqual([
      [T0, 2, 1, 20],
      [T0 + 1000, 1, 0, 5],
    ])
    expect(s.totals(60)).toEqual({ requests: 3, errors: 1, tokens: 25 })
  })

  it('forgets seconds older than the window', () => {
    const c = clock()
    const s = new LiveStats({ now: c.now, windowSeconds: 60 })
    s.record(req())
    c.advance(30_000)
    s.record(req())
    expect(s.totals(60).requests).toBe(2)
    c.advance(30_500) // the first second is now 60.5 s old
    expect(s.totals(60).requests).toBe(1)
    c.advance(3_600_000)
    expect(s.totals(60).requests).toBe(0)
    // A slot reused by a newer second starts from zero.
    s.record(req())
    expect(s.totals(60).requests).toBe(1)
  })

  it('aggregates points by step, aligned, with the current step partial', () => {
    const c = clock(T0 + 3_000) // 3 s into a 10 s step
    const s = new LiveStats({ now: c.now, windowSeconds: 3600 })
    s.record(req())
    c.advance(4_000)
    s.record(req())
    const points = s.points(10)
    expect(points.length).toBe(361)
    const last = points.at(-1)!
    expect(last.t).toBe(T0)
    expect(last.span).toBe(8)
    expect(last.requests).toBe(2)
    expect(points[0]!.span).toBeLessThan(10)
    // A delta from a given time carries only the steps from there on.
    expect(s.points(10, T0 + 5_000).map((p) => p.t)).toEqual([T0])
  })

  it('computes TTFT percentiles over any range from the per-second histograms', () => {
    const c = clock()
    const s = new LiveStats({ now: c.now })
    for (let i = 1; i <= 100; i++) {
      s.record(req({ ttft_ms: i * 10 })) // 10 … 1000 ms
      if (i % 10 === 0) c.advance(1000)
    }
    const p = s.ttft(300)
    expect(p.count).toBe(100)
    expect(p.p50! / 500).toBeGreaterThan(0.87)
    expect(p.p50! / 500).toBeLessThan(1.13)
    expect(p.p95! / 950).toBeGreaterThan(0.87)
    expect(p.p95! / 950).toBeLessThan(1.13)
    expect(p.p99! / 990).toBeGreaterThan(0.87)
    expect(p.p99! / 990).toBeLessThan(1.13)
    // The last 3 seconds only hold the 80 … 100th samples (ttft 710 … 1000 ms).
    const recent = s.ttft(3)
    expect(recent.count).toBe(20)
    expect(recent.p50!).toBeGreaterThan(700)
    // Never past the largest value seen in the range.
    expect(recent.p99!).toBeLessThanOrEqual(1000)
  })

  it('keeps TTFT percentiles within the values seen: a tight spread, a single stream', () => {
    const c = clock()
    const s = new LiveStats({ now: c.now })
    for (const t of [1070.33, 1041.65, 1044.54, 1046.07, 1015.09, 1025.7]) s.record(req({ ttft_ms: t }))
    const p = s.ttft(300)
    for (const v of [p.p50!, p.p95!, p.p99!]) {
      expect(v).toBeGreaterThanOrEqual(1015.09)
      expect(v).toBeLessThanOrEqual(1070.4)
    }
    c.advance(20_000)
    s.record(req({ ttft_ms: 203.39 }))
    expect(s.points(10).at(-1)!.ttft_p50).toBeCloseTo(203.4, 1)
  })

  it('records no TTFT for requests without one', () => {
    const s = new LiveStats({ now: clock().now })
    s.record(req({ ttft_ms: null, stream: false }))
    expect(s.ttft(60)).toEqual({ count: 0, p50: null, p95: null, p99: null })
    expect(s.points(10).at(-1)!.ttft_p50).toBeNull()
  })

  it('writes into the newest second when the clock steps back', () => {
    const c = clock()
    const s = new LiveStats({ now: c.now, windowSeconds: 60 })
    s.record(req())
    c.advance(-5_000)
    s.record(req())
    c.advance(5_000)
    expect(s.totals(1).requests).toBe(2)
  })
})

describe('LiveStats recent requests', () => {
  it('keeps the last N, newest first, and hands out copies', () => {
    const s = new LiveStats({ now: clock().now, recentSize: 100 })
    for (let i = 1; i <= 250; i++) s.record(req({ id: `r${i}` }))
    const recent = s.recent()
    expect(recent.length).toBe(100)
    expect(recent[0]!.id).toBe('r250')
    expect(recent.at(-1)!.id).toBe('r151')
    expect(recent[0]!.seq).toBe(250)
    recent[0]!.id = 'changed'
    expect(s.recent()[0]!.id).toBe('r250')
  })

  it('returns only the entries after a sequence number', () => {
    const s = new LiveStats({ now: clock().now })
    for (let i = 1; i <= 5; i++) s.record(req({ id: `r${i}` }))
    const seq = s.recentSeq
    s.record(req({ id: 'r6' }))
    s.record(req({ id: 'r7' }))
    expect(s.recent(seq).map((r) => r.id)).toEqual(['r7', 'r6'])
    expect(s.recent(s.recentSeq)).toEqual([])
  })

  it('stores no field beyond the documented ones (no upstream object, no secrets)', () => {
    const s = new LiveStats({ now: clock().now })
    s.record(req({ upstreamRef: { authorization: 'Bearer sk-secret' } }))
    const r = s.recent()[0]!
    expect(Object.keys(r).sort()).toEqual(
      ['completion_tokens', 'duration_ms', 'error', 'id', 'key', 'model', 'prompt_tokens', 'seq', 'served_model', 'status', 'stream', 'time', 'ttft_ms', 'upstream'].sort()
    )
    expect(JSON.stringify(s.recent())).not.toContain('sk-secret')
  })
})

describe('LiveStats top keys', () => {
  it('ranks keys by tokens, then requests, over the window', () => {
    const c = clock()
    const s = new LiveStats({ now: c.now })
    s.record(req({ key: 'team-a', prompt_tokens: 100, completion_tokens: 100 }))
    s.record(req({ key: 'team-b', prompt_tokens: 10, completion_tokens: 10 }))
    s.record(req({ key: 'team-b', prompt_tokens: 10, completion_tokens: 10, failed: true }))
    s.record(req({ key: null, prompt_tokens: null, completion_tokens: null }))
    expect(s.topKeys()).toEqual([
      { key: 'team-a', requests: 1, tokens: 200, errors: 0 },
      { key: 'team-b', requests: 2, tokens: 40, errors: 1 },
      { key: null, requests: 1, tokens: 0, errors: 0 },
    ])
    c.advance(3_700_000)
    expect(s.topKeys()).toEqual([])
  })

  it('remembers at most maxKeys keys, forgetting the idlest', () => {
    const c = clock()
    const s = new LiveStats({ now: c.now, maxKeys: 50 })
    for (let i = 0; i < 10_000; i++) s.record(req({ key: `k${i}` }))
    const top = s.topKeys(1000)
    expect(top.length).toBe(50)
    expect(top.map((r) => r.key)).toContain('k9999')
    expect(top.map((r) => r.key)).not.toContain('k0')
  })

  it('forgets the key idle longest, however often the others repeat', () => {
    const c = clock()
    const keysAfter = (order: string[]): (string | null)[] => {
      const s = new LiveStats({ now: c.now, maxKeys: 3 })
      for (const key of order) s.record(req({ key }))
      return s.topKeys(10).map((r) => r.key).sort()
    }
    // a repeats while it is the newest, then c and d arrive: b is the idlest.
    expect(keysAfter(['a', 'b', 'a', 'a', 'c', 'd'])).toEqual(['a', 'c', 'd'])
    // b used again after a: a is the idlest.
    expect(keysAfter(['a', 'b', 'a', 'b', 'c', 'd'])).toEqual(['b', 'c', 'd'])
    expect(keysAfter(['a', 'a', 'b', 'b', 'a', 'c', 'd'])).toEqual(['a', 'c', 'd'])
  })
})

describe('LiveStats per-upstream rates', () => {
  it('spreads a request’s tokens over the seconds it was generating', () => {
    const c = clock()
    const s = new LiveStats({ now: c.now })
    const short = {}
    const long = {}
    // 500 tokens each: one generated over the last 5 s, one over the last 30 s.
    s.record(req({ upstreamRef: short, completion_tokens: 500, ttft_ms: 0, duration_ms: 5_000 }))
    s.record(req({ upstreamRef: long, completion_tokens: 500, ttft_ms: 0, duration_ms: 30_000 }))
    c.advance(1000)
    // The rate is over the 10 complete seconds before now.
    expect(s.upstreamRates(short).tokens_per_s).toBeCloseTo(50, 1)
    // 500/30 tokens in each of the 9 window seconds it covers: 150 over 10 s.
    expect(s.upstreamRates(long).tokens_per_s).toBeCloseTo(15, 1)
    expect(s.upstreamRates(short).requests_per_s).toBeCloseTo(0.1, 5)
    expect(s.upstreamRates({})).toEqual({ tokens_per_s: 0, requests_per_s: 0, errors_per_s: 0 })
  })

  it('counts a stream’s tokens from its first token, not from its start', () => {
    const c = clock()
    const s = new LiveStats({ now: c.now })
    const u = {}
    // 20 s in all, 10 s waiting for the first token, 1000 tokens in the last 10 s.
    s.record(req({ upstreamRef: u, completion_tokens: 1000, ttft_ms: 10_000, duration_ms: 20_000 }))
    c.advance(1000)
    // The window [now-10 s, now) holds 9 of those 10 seconds.
    expect(s.upstreamRates(u).tokens_per_s).toBeCloseTo(90, 1)
  })

  it('drops out of the rate once older than the rate window', () => {
    const c = clock()
    const s = new LiveStats({ now: c.now })
    const u = {}
    s.record(req({ upstreamRef: u, failed: true }))
    c.advance(1000)
    expect(s.upstreamRates(u).errors_per_s).toBeGreaterThan(0)
    c.advance(11_000)
    expect(s.upstreamRates(u)).toEqual({ tokens_per_s: 0, requests_per_s: 0, errors_per_s: 0 })
  })
})

describe('LiveStats memory', () => {
  it('stays bounded over hours of traffic from many keys', () => {
    const c = clock()
    const s = new LiveStats({ now: c.now, maxKeys: 100, recentSize: 100 })
    const u = {}
    // Three hours at 20 requests a second, 1000 distinct keys.
    for (let sec = 0; sec < 3 * 3600; sec++) {
      for (let i = 0; i < 20; i++) s.record(req({ key: `k${(sec * 20 + i) % 1000}`, upstreamRef: u, ttft_ms: 50 + i }))
      c.advance(1000)
    }
    expect(s.recent().length).toBe(100)
    expect(s.topKeys(10_000).length).toBeLessThanOrEqual(100)
    expect(s.points(10).length).toBeLessThanOrEqual(361)
    // Only the last hour counts (its newest second, the current one, has had no traffic yet).
    expect(s.totals(3600).requests).toBe(3599 * 20)
  })
})
