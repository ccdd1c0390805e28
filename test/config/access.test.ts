// Config validation of the auth, limits, state and store sections.
import { describe, expect, it } from 'vitest'
import { ConfigError, parseConfig } from '../../src/config/load.js'

const models = [{ name: 'm', upstreams: [{ url: 'http://127.0.0.1:9001/v1' }] }]
const HASH = `sha256:${'ab'.repeat(32)}`

function issuesOf(raw: Record<string, unknown>): string[] {
  try {
    parseConfig({ models, ...raw })
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues]
    throw err
  }
  return []
}

describe('auth, limits, state and store config', () => {
  it('defaults: no auth section (open), memory state, on_error open, no store', () => {
    const c = parseConfig({ models })
    expect(c.auth).toBeUndefined()
    expect(c.store).toBeUndefined()
    expect(c.limits).toEqual({ per_model: {} })
    expect(c.state).toEqual({ on_error: 'open', timeout: 250, prefix: 'switchyard:' })
  })

  it('parses keys as the issue spells them', () => {
    const c = parseConfig({
      models,
      auth: { keys: [{ name: 'team-a', hash: HASH, models: ['m'], limits: { requests_per_minute: 60, tokens_per_minute: 100000, concurrency: 8 }, budget_usd: 50, expires: '2027-06-30' }] },
      limits: { per_ip: { requests_per_minute: 600, concurrency: 32 }, per_model: { m: { tokens_per_minute: 2000000 } } },
      state: { redis: 'redis://127.0.0.1:6379', on_error: 'closed', timeout: '1s' },
      store: { sqlite: './switchyard.db' },
    })
    expect(c.auth!.mode).toBe('keys')
    expect(c.auth!.keys[0]!.expires).toBe(Date.parse('2027-06-30T23:59:59.999Z'))
    expect(c.state.timeout).toBe(1000)
  })

  it('names every bad field by its path', () => {
    const issues = issuesOf({
      auth: {
        mode: 'maybe',
        keys: [
          { name: 'a', hash: 'md5:1234' },
          { name: 'a', hash: HASH, models: ['nope'], expires: 'someday', limits: { requests_per_minute: 0, rpm: 5 } },
          { name: 'b c', hash: HASH },
        ],
      },
      limits: { per_model: { ghost: { requests_per_minute: 1 } } },
      state: { redis: 'http://127.0.0.1:6379', on_error: 'sometimes' },
      store: {},
    })
    const text = issues.join('\n')
    for (const path of [
      'auth.mode',
      'auth.keys[0].hash',
      'auth.keys[1].expires',
      'auth.keys[1].limits.requests_per_minute',
      'auth.keys[1].limits: unknown field(s): rpm',
      'auth.keys[2].name',
      'state.redis',
      'state.on_error',
      'store.sqlite',
    ]) {
      expect(text).toContain(path)
    }
  })

  it('cross-checks names: duplicate keys and hashes, unknown models', () => {
    const text = issuesOf({
      auth: { keys: [{ name: 'a', hash: HASH }, { name: 'a', hash: HASH.toUpperCase().replace('SHA256', 'sha256'), models: ['nope'] }] },
      limits: { per_model: { ghost: { requests_per_minute: 1 } } },
    }).join('\n')
    expect(text).toContain("auth.keys[1].name: duplicate key name 'a'")
    expect(text).toContain('auth.keys[1].hash: the same hash is used by another key')
    expect(text).toContain("auth.keys[1].models[0]: unknown model 'nope'")
    expect(text).toContain("limits.per_model.ghost: unknown model 'ghost'")
  })
})
