// The shipped Grafana dashboard queries only metrics (and labels) the gateway exports.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { buildSnapshot } from '../../src/config/snapshot.js'
import { Metrics } from '../../src/observability/metrics.js'

const dashboard = JSON.parse(readFileSync(new URL('../../docs/grafana/switchyard.json', import.meta.url), 'utf8')) as {
  panels: { title: string; targets?: { expr: string }[] }[]
  templating: { list: { query?: unknown }[] }
}

/** Every series name the registry exposes, with the label names each accepts. */
async function exported(): Promise<Map<string, Set<string>>> {
  const snapshot = buildSnapshot(parseConfig({ models: [{ name: 'm', upstreams: [{ url: 'http://127.0.0.1:1/v1' }] }] })).snapshot
  const metrics = new Metrics({ snapshot: () => snapshot })
  const out = new Map<string, Set<string>>()
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    const labels = new Set((metrics.registry.getSingleMetric(m.name) as unknown as { labelNames: string[] }).labelNames)
    labels.add('instance').add('job')
    if (String(m.type) === 'histogram') {
      out.set(`${m.name}_bucket`, new Set([...labels, 'le']))
      out.set(`${m.name}_sum`, labels)
      out.set(`${m.name}_count`, labels)
    } else {
      out.set(m.name, labels)
    }
    for (const v of m.values) for (const l of Object.keys(v.labels)) labels.add(l)
  }
  return out
}

const SELECTOR = /([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?/g
const METRIC = /^(switchyard_|gen_ai_|process_|nodejs_)/

/** [metric, labels used in its selector] for every metric a PromQL expression reads. */
function metricsIn(expr: string): [string, string[]][] {
  // Grafana's label_values(metric, label): the label must exist on the metric.
  const lv = /^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$/.exec(expr)
  if (lv !== null) return [[lv[1]!, [lv[2]!]]]
  // Drop grouping clauses (their label names are not metrics) and quoted strings.
  const clean = expr.replace(/\b(by|without)\s*\([^)]*\)/g, '').replace(/"[^"]*"/g, '""')
  const out: [string, string[]][] = []
  for (const m of clean.matchAll(SELECTOR)) {
    if (!METRIC.test(m[1]!)) continue
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|!~|=)/g)].map((l) => l[1]!)
    out.push([m[1]!, labels])
  }
  return out
}

describe('docs/grafana/switchyard.json', () => {
  const queries = [
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: p.title, expr: t.expr }))),
    ...dashboard.templating.list.filter((v) => typeof v.query === 'string' && v.query.startsWith('label_values')).map((v) => ({ where: 'variable', expr: v.query as string })),
  ]

  it('has panels with queries', () => {
    expect(queries.length).toBeGreaterThan(20)
  })

  it('queries only metrics and labels the gateway exports', async () => {
    const names = await exported()
    const problems: string[] = []
    for (const q of queries) {
      const used = metricsIn(q.expr)
      if (used.length === 0) problems.push(`${q.where}: no metric in ${q.expr}`)
      for (const [metric, labels] of used) {
        const known = names.get(metric)
        if (known === undefined) {
          problems.push(`${q.where}: unknown metric ${metric}`)
          continue
        }
        for (const l of labels) if (!known.has(l)) problems.push(`${q.where}: ${metric} has no label ${l}`)
      }
      for (const g of q.expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) {
        for (const l of g[1]!.split(',').map((s) => s.trim())) {
          if (!used.some(([m]) => names.get(m)?.has(l))) problems.push(`${q.where}: no metric of ${q.expr} has label ${l}`)
        }
      }
    }
    expect(problems).toEqual([])
  })
})
