import { describe, expect, it } from 'vitest'
import { ConfigError, parseConfig, parseConfigText } from '../../src/config/load.js'
import { parseDuration, parseSize } from '../../src/config/units.js'

function issuesOf(fn: () => unknown): string[] {
  try {
    fn()
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues]
    throw err
  }
  throw new Error('expected a ConfigError')
}

const minimal = { models: [{ name: 'm', upstreams: [{ url: 'http://127.0.0.1:9001/v1' }] }] }

describe('units', () => {
  it('parses durations and sizes', () => {
    expect(parseDuration('250ms')).toBe(250)
    expect(parseDuration('5s')).toBe(5000)
    expect(parseDuration('1.5s')).toBe(1500)
    expect(parseDuration('2m')).toBe(120_000)
    expect(parseDuration('30d')).toBe(30 * 86_400_000)
    expect(parseDuration(42)).toBe(42)
    expect(parseDuration('5 parsecs')).toBeNaN()
    expect(parseSize('10MiB')).toBe(10 * 1024 * 1024)
    expect(parseSize('512KB')).toBe(512_000)
    expect(parseSize(1024)).toBe(1024)
    expect(parseSize('lots')).toBeNaN()
  })
})

describe('config validation', () => {
  it('fills defaults and freezes the result', () => {
    const c = parseConfig(minimal)
    expect(c.server).toMatchObject({ host: '127.0.0.1', port: 8080, max_body: 10 * 1024 * 1024, drain_timeout: 30_000 })
    expect(c.models[0]!.strategy).toBe('round-robin')
    expect(c.models[0]!.upstreams[0]!.weight).toBe(1)
    expect(c.models[0]!.timeouts.first_token).toBe(120_000)
    expect(Object.isFrozen(c.models[0]!.upstreams[0])).toBe(true)
  })

  it('names each bad field by its path', () => {
    const issues = issuesOf(() =>
      parseConfig({
        server: { port: 'eighty', max_body: 'huge' },
        models: [
          { name: 'a', upstreams: [{ url: 'http://127.0.0.1:1/v1' }] },
          { name: 'b', strategy: 'fastest', upstreams: [{ url: 'ftp://nope' }, { url: 'http://x', weight: -1 }], timeouts: { idle: 'soon' } },
        ],
      })
    )
    expect(issues).toContain('models[1].upstreams[0].url: must be an http(s) URL')
    expect(issues).toContain('server.max_body: must be a size like 10MiB or 512KB')
    expect(issues).toContain('models[1].timeouts.idle: must be a duration like 250ms, 5s or 2m')
    expect(issues.some((i) => i.startsWith('server.port:'))).toBe(true)
    expect(issues.some((i) => i.startsWith('models[1].strategy: must be one of: round-robin'))).toBe(true)
    expect(issues.some((i) => i.startsWith('models[1].upstreams[1].weight:'))).toBe(true)
  })

  it('rejects unknown fields, duplicate names, bad fallbacks and missing models', () => {
    expect(issuesOf(() => parseConfig({ ...minimal, sever: {} }))).toContain('(root): unknown field(s): sever')
    expect(issuesOf(() => parseConfig({}))).toContain('models: is required')
    const dup = issuesOf(() => parseConfig({ models: [minimal.models[0], minimal.models[0]] }))
    expect(dup).toContain("models[1].name: duplicate model name 'm'")
    const fb = issuesOf(() => parseConfig({ models: [{ ...minimal.models[0], fallback: ['ghost', 'm'] }] }))
    expect(fb).toContain("models[0].fallback[0]: unknown model 'ghost'")
    expect(fb).toContain('models[0].fallback[1]: a model cannot fall back to itself')
  })

  it('interpolates ${ENV} secrets and names a missing variable', () => {
    const text = `
models:
  - name: m
    upstreams:
      - url: \${BASE:-http://127.0.0.1:9001/v1}
        api_key: \${UPSTREAM_KEY}
`
    const c = parseConfigText(text, 'x.yaml', { UPSTREAM_KEY: 'sk-123' })
    expect(c.models[0]!.upstreams[0]!.api_key).toBe('sk-123')
    expect(c.models[0]!.upstreams[0]!.url).toBe('http://127.0.0.1:9001/v1')
    expect(issuesOf(() => parseConfigText(text, 'x.yaml', {}))).toEqual([
      'models[0].upstreams[0].api_key: environment variable UPSTREAM_KEY is not set',
    ])
  })

  it('reports YAML syntax errors', () => {
    const issues = issuesOf(() => parseConfigText('models: [unclosed', 'bad.yaml', {}))
    expect(issues[0]).toMatch(/^YAML: /)
  })
})

describe('prices', () => {
  it('validates prices and computes costs', async () => {
    const { costUsd } = await import('../../src/config/prices.js')
    const c = parseConfig({ ...minimal, prices: { m: { input: 0.15, output: 0.6 } } })
    expect(costUsd(c.prices, 'm', { prompt_tokens: 1_000_000, completion_tokens: 500_000, total_tokens: 1_500_000 })).toBeCloseTo(0.45)
    expect(costUsd(c.prices, 'other', { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 })).toBe(0)
    expect(issuesOf(() => parseConfig({ ...minimal, prices: { m: { input: -1, output: 1 } } }))[0]).toMatch(/^prices\.m\.input:/)
  })
})
