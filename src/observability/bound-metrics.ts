// Counter and histogram whose label children are bound once and then cost a few additions
// per observation (prom-client's re-validate and re-hash their labels on every call, which
// measured ~1 µs each on the request path). They register in a prom-client Registry,
// which reads any metric through get(), and expose exactly what prom-client's would.
import type { MetricObjectWithValues, MetricValueWithName, Registry } from 'prom-client'

interface BoundMetric {
  readonly name: string
  readonly help: string
  readonly type: 'counter' | 'histogram'
  readonly labelNames: readonly string[]
  readonly aggregator: 'sum'
}

function labelObject(names: readonly string[], values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (let i = 0; i < names.length; i++) out[names[i]!] = values[i]!
  return out
}

export class CounterSeries {
  value = 0
  constructor(readonly labels: Readonly<Record<string, string>>) {}
  inc(n = 1): void {
    this.value += n
  }
}

export class HistogramSeries {
  /** Per-bucket (not cumulative) counts; the last slot is above the highest bound. */
  readonly counts: Float64Array
  sum = 0
  count = 0
  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[]
  ) {
    this.counts = new Float64Array(bounds.length + 1)
  }
  observe(v: number): void {
    const b = this.bounds
    let i = 0
    while (i < b.length && v > b[i]!) i++
    this.counts[i]!++
    this.sum += v
    this.count++
  }
}

abstract class Bound<S> implements BoundMetric {
  abstract readonly type: 'counter' | 'histogram'
  readonly aggregator = 'sum' as const
  protected readonly series = new Map<string, S>()

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    registry: Registry
  ) {
    registry.registerMetric(this as never)
  }

  /** The child for these label values (in labelNames order): bind once, keep it. */
  labels(...values: string[]): S {
    if (values.length !== this.labelNames.length) throw new Error(`${this.name}: expected ${this.labelNames.length} label values`)
    const key = values.join('\u0000')
    let s = this.series.get(key)
    if (s === undefined) this.series.set(key, (s = this.create(labelObject(this.labelNames, values))))
    return s
  }

  protected abstract create(labels: Record<string, string>): S
  /** `shared`: series labels as prom-client's text output orders them (after `le`). */
  protected abstract values(shared: boolean): MetricValueWithName<string>[]
  /** Zeroes every series in place (bound children stay valid). */
  abstract reset(): void

  async get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    return this.object(false)
  }

  /** What the registry's text output reads (prom-client's own metrics have it too). */
  async getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    return this.object(true)
  }

  private object(shared: boolean): MetricObjectWithValues<MetricValueWithName<string>> {
    return { name: this.name, help: this.help, type: this.type as never, aggregator: this.aggregator, collect: () => undefined, values: this.values(shared) }
  }
}

export class BoundCounter extends Bound<CounterSeries> {
  readonly type = 'counter'
  protected create(labels: Record<string, string>): CounterSeries {
    return new CounterSeries(labels)
  }
  protected values(): MetricValueWithName<string>[] {
    return [...this.series.values()].map((s) => ({ labels: s.labels, value: s.value, metricName: this.name }))
  }
  reset(): void {
    for (const s of this.series.values()) s.value = 0
  }
}

export class BoundHistogram extends Bound<HistogramSeries> {
  readonly type = 'histogram'
  constructor(name: string, help: string, labelNames: readonly string[], readonly buckets: readonly number[], registry: Registry) {
    super(name, help, labelNames, registry)
  }
  protected create(labels: Record<string, string>): HistogramSeries {
    return new HistogramSeries(labels, this.buckets)
  }
  protected values(shared: boolean): MetricValueWithName<string>[] {
    const out: MetricValueWithName<string>[] = []
    const bucket = `${this.name}_bucket`
    for (const s of this.series.values()) {
      const le = (v: number | string): MetricValueWithName<string>['labels'] => (shared ? { le: v } : { ...s.labels, le: v })
      const sharedLabels = shared ? s.labels : undefined
      let acc = 0
      for (let i = 0; i < this.buckets.length; i++) {
        acc += s.counts[i]!
        out.push({ labels: le(this.buckets[i]!), value: acc, metricName: bucket, ...(sharedLabels && { sharedLabels }) })
      }
      out.push({ labels: le('+Inf'), value: s.count, metricName: bucket, ...(sharedLabels && { sharedLabels }) })
      out.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` })
      out.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` })
    }
    return out
  }
  reset(): void {
    for (const s of this.series.values()) {
      s.counts.fill(0)
      s.sum = 0
      s.count = 0
    }
  }
}
