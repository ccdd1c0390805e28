// Bound counters and histograms expose exactly what prom-client's own would for the same
// observations, and the line writer delivers every line.
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Counter, Histogram, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { BoundCounter, BoundHistogram } from '../../src/observability/bound-metrics.js'
import { LineWriter } from '../../src/observability/line-writer.js'

describe('bound metrics', () => {
  it('match prom-client text exposition', async () => {
    const ours = new Registry()
    const theirs = new Registry()
    const buckets = [0.01, 0.1, 1, 10]
    const h1 = new BoundHistogram('lat_seconds', 'latency', ['model', 'upstream'], buckets, ours)
    const h2 = new Histogram({ name: 'lat_seconds', help: 'latency', labelNames: ['model', 'upstream'], buckets, registers: [theirs] })
    const c1 = new BoundCounter('reqs_total', 'requests', ['model'], ours)
    const c2 = new Counter({ name: 'reqs_total', help: 'requests', labelNames: ['model'], registers: [theirs] })
    const a = h1.labels('m "1"', 'u\\0')
    const b = h1.labels('m2', 'u1')
    for (const v of [0.001, 0.01, 0.05, 0.5, 1, 3, 10, 11, 250]) {
      a.observe(v)
      h2.observe({ model: 'm "1"', upstream: 'u\\0' }, v)
    }
    b.observe(0.2)
    h2.observe({ model: 'm2', upstream: 'u1' }, 0.2)
    c1.labels('x').inc()
    c1.labels('x').inc(2)
    c2.inc({ model: 'x' }, 3)
    expect(await ours.metrics()).toBe(await theirs.metrics())
    ours.resetMetrics()
    theirs.resetMetrics()
    a.observe(1)
    h2.observe({ model: 'm "1"', upstream: 'u\\0' }, 1)
    expect((await ours.getSingleMetricAsString('lat_seconds')).split('\n').filter((l) => l.includes('m \\"1\\"'))).toEqual(
      (await theirs.getSingleMetricAsString('lat_seconds')).split('\n').filter((l) => l.includes('m \\"1\\"'))
    )
  })
})

describe('LineWriter', () => {
  it('writes every line, in order, in chunks and at the end', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'switchyard-lines-')), 'sub', 'access.log')
    const w = LineWriter.open(file, { chunk: 1000 })
    const lines = Array.from({ length: 5000 }, (_, i) => `{"n":${i},"pad":"${'x'.repeat(i % 50)}"}\n`)
    for (const l of lines) w.write(l)
    await new Promise((r) => setTimeout(r, 200))
    w.flush()
    await new Promise((r) => setTimeout(r, 200))
    w.write('{"last":true}\n')
    await w.end()
    expect(readFileSync(file, 'utf8')).toBe(lines.join('') + '{"last":true}\n')
    expect(w.dropped).toBe(0)
  })

  it('writes lines longer than a buffer, and non-ASCII text', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'switchyard-lines-')), 'a.log')
    const w = LineWriter.open(file, { chunk: 64 })
    const long = `{"x":"${'é'.repeat(500)}"}\n`
    w.write('{"a":"😀"}\n')
    w.write(long)
    w.write('{"b":1}\n')
    await w.end()
    expect(readFileSync(file, 'utf8')).toBe('{"a":"😀"}\n' + long + '{"b":1}\n')
  })

  it('drops and counts lines past its bound instead of growing without limit', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'switchyard-lines-')), 'a.log')
    // Buffers of 100 bytes, at most 250 bytes waiting: a write is in flight after the first.
    const w = LineWriter.open(file, { chunk: 100, max: 250 })
    for (let i = 0; i < 40; i++) w.write('x'.repeat(29) + '\n')
    expect(w.dropped).toBeGreaterThan(0)
    await w.end()
    expect(readFileSync(file, 'utf8').length).toBe((40 - w.dropped) * 30)
  })
})
