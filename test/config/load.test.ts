import { describe, expect, it } from 'vitest'
import { ConfigError, formatIssue, parseConfig, parseConfigText } from '../../src/config/load.js'
import { upstreamSchema } from '../../src/config/schema.js'
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
    expect(parseDuration('50')).toBe(50)
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

  it('says what a field of the wrong type got, and "is required" only when it is missing', () => {
    const issues = issuesOf(() => parseConfig({ server: { port: 'abc', drain_timeout: true }, models: 'hello' }))
    expect(issues).toEqual([
      'server.port: expected a number, got a string',
      'server.drain_timeout: must be a duration like 250ms, 5s or 2m',
      'models: expected a list, got a string',
    ])
    expect(issuesOf(() => parseConfig({ models: [{ name: 'm', upstreams: [{ url: 5 }] }] }))).toEqual(['models[0].upstreams[0].url: expected a string, got a number'])
    expect(issuesOf(() => parseConfig({ models: [{ upstreams: [{}] }] }))).toEqual(['models[0].name: is required', 'models[0].upstreams[0].url: is required'])
    // Parsed without the input (the admin API's bodies): zod's own wording says what it got.
    const bare = upstreamSchema.safeParse({ url: 'http://x', weight: 'heavy' })
    expect(bare.error?.issues.map(formatIssue)).toEqual(['weight: expected a number, got a string'])
  })

  it('refuses an admin token that could never match (whitespace at either end)', () => {
    for (const token of ['   ', ' tok-0123456789abcdef', 'tok-0123456789abcdef\t']) {
      expect(issuesOf(() => parseConfig({ ...minimal, admin: { token } })), JSON.stringify(token)).toEqual([
        'admin.token: must not start or end with whitespace (it could never match a request)',
      ])
    }
    expect(parseConfig({ ...minimal, admin: { token: 'tok 0123456789abcdef' } }).admin.token).toBe('tok 0123456789abcdef')
  })

  it('rejects unknown fields, duplicate names, bad fallbacks and missing models', () => {
    expect(issuesOf(() => parseConfig({ ...minimal, sever: {} }))).toContain('(root): unknown field(s): sever')
    expect(issuesOf(() => parseConfig({}))).toContain('models: is required')
    const dup = issuesOf(() => parseConfig({ models: [minimal.models[0], minimal.models[0]] }))
    expect(dup).toContain("models[1].name: duplicate model name 'm'")
    const url = 'http://127.0.0.1:9001/v1'
    expect(issuesOf(() => parseConfig({ models: [{ name: 'm', upstreams: [{ url }, { url, name: '0' }] }] }))).toEqual([
      "models[0].upstreams[1].name: upstream id '0' in model 'm' is also upstreams[0]'s (an unnamed upstream's id is its index): name them apart",
    ])
    expect(issuesOf(() => parseConfig({ models: [{ name: 'm', upstreams: [{ url, name: '1' }, { url }] }] }))).toEqual([
      "models[0].upstreams[1]: upstream id '1' in model 'm' is also upstreams[0]'s (an unnamed upstream's id is its index): name them apart",
    ])
    expect(issuesOf(() => parseConfig({ models: [{ name: 'm', upstreams: [{ url, name: 'a' }, { url, name: 'a' }] }] }))).toEqual([
      "models[0].upstreams[1].name: duplicate upstream name 'a' in model 'm'",
    ])
    const fb = issuesOf(() => parseConfig({ models: [{ ...minimal.models[0], fallback: ['ghost', 'm'] }] }))
    expect(fb).toContain("models[0].fallback[0]: unknown model 'ghost'")
    expect(fb).toContain('models[0].fallback[1]: a model cannot fall back to itself')
  })

  it("refuses upstream headers that would break or double a request, and two kinds of credentials at once", () => {
    const up = (u: Record<string, unknown>) => issuesOf(() => parseConfig({ models: [{ name: 'm', upstreams: [{ url: 'http://127.0.0.1:9001/v1', ...u }] }] }))
    expect(up({ headers: { 'bad name': 'x' } })).toContain('models[0].upstreams[0].headers.bad name: is not a valid header name')
    expect(up({ headers: { 'X-Org': 'a\r\nX-Evil: 1' } })).toContain('models[0].upstreams[0].headers.X-Org: must not contain control characters')
    expect(up({ headers: { 'Content-Length': '3' } })).toContain('models[0].upstreams[0].headers.Content-Length: is set by the gateway itself')
    expect(up({ api_key: 'k1', headers: { Authorization: 'Bearer k2' } })).toContain(
      'models[0].upstreams[0].headers: an authorization header and api_key would both be sent: set one'
    )
    expect(up({ url: 'http://user:pw@127.0.0.1:9001/v1', api_key: 'k' })).toContain(
      'models[0].upstreams[0].url: credentials in the URL are sent as Basic auth: not with api_key or an authorization header'
    )
    expect(up({ url: 'ftp://nope' })).toContain('models[0].upstreams[0].url: must be an http(s) URL')
    expect(up({ url: 'not a url' })).toEqual(['models[0].upstreams[0].url: must be an http(s) URL'])
    // A Host of its own (a virtual host behind a load balancer) and a query (Azure's api-version) are fine.
    expect(() => parseConfig({ models: [{ name: 'm', upstreams: [{ url: 'https://x.openai.azure.com/openai/deployments/d?api-version=2024-06-01', headers: { Host: 'v.example', 'api-key': 'k' } }] }] })).not.toThrow()
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

  it('says an empty variable is empty, and uses the default when it is unset or empty', () => {
    const text = 'models: [{ name: m, upstreams: [{ url: "${BASE:-http://127.0.0.1:9001/v1}", api_key: "${KEY}" }] }]'
    expect(issuesOf(() => parseConfigText(text, 'x.yaml', { KEY: '' }))).toEqual(['models[0].upstreams[0].api_key: environment variable KEY is empty'])
    expect(parseConfigText(text, 'x.yaml', { KEY: 'k', BASE: '' }).models[0]!.upstreams[0]!.url).toBe('http://127.0.0.1:9001/v1')
  })

  it('fills number and boolean fields from ${ENV}, and only from ${ENV}', () => {
    const text = `
server: { port: "\${PORT:-8080}", max_connections: "\${CONNS}" }
metrics: { enabled: "\${METRICS:-false}" }
filters: { max_messages: "500" }
models:
  - name: m
    upstreams: [{ url: "http://127.0.0.1:9001/v1", api_key: "\${KEY}", weight: "\${WEIGHT}" }]
`
    const c = parseConfigText(text.replace('max_messages: "500"', 'max_messages: 500'), 'x.yaml', { CONNS: ' 42 ', KEY: '12345', WEIGHT: '2.5' })
    expect(c.server.port).toBe(8080)
    expect(c.server.max_connections).toBe(42)
    expect(c.metrics.enabled).toBe(false)
    expect(c.models[0]!.upstreams[0]!.weight).toBe(2.5)
    // An all-digit secret stays the string it is.
    expect(c.models[0]!.upstreams[0]!.api_key).toBe('12345')
    // A literal string is still wrong, and so is a substituted value that does not read as the type.
    expect(issuesOf(() => parseConfigText(text, 'x.yaml', { CONNS: 'many', KEY: 'k', WEIGHT: '1', METRICS: 'yes' }))).toEqual([
      'server.max_connections: expected a number, got a string',
      'metrics.enabled: expected a boolean, got a string',
      'filters.max_messages: expected a number, got a string',
    ])
  })

  it('reports missing variables and schema problems together', () => {
    const text = 'server: { port: eighty }\nmodels: [{ name: m, upstreams: [{ url: "${BASE}" }], fallback: [ghost] }]'
    expect(issuesOf(() => parseConfigText(text, 'x.yaml', {}))).toEqual([
      'models[0].upstreams[0].url: environment variable BASE is not set',
      'server.port: expected a number, got a string',
      "models[0].fallback[0]: unknown model 'ghost'",
    ])
  })

  it('runs cross-field checks whenever the fields they read parsed', () => {
    const issues = issuesOf(() =>
      parseConfig({
        server: { max_body: 'huge', headers_timeout: '5m', request_timeout: '1m' },
        models: [
          { name: 'a', timeouts: { idle: 'soon' }, upstreams: [{ url: 'nope', discovery_interval: '5s', api_key: 'k', headers: { Authorization: 'b' } }], fallback: ['b'] },
          { name: 'a', upstreams: [{ url: 'http://x', weight: -1 }] },
        ],
        limits: { per_model: { ghost: { requests_per_minute: 'many' } } },
      })
    )
    expect(issues).toEqual(
      expect.arrayContaining([
        'server.headers_timeout: must not exceed server.request_timeout',
        'models[0].upstreams[0].discovery_interval: only applies with discovery: dns',
        'models[0].upstreams[0].headers: an authorization header and api_key would both be sent: set one',
        "models[1].name: duplicate model name 'a'",
        "models[0].fallback[0]: unknown model 'b'",
        "limits.per_model.ghost: unknown model 'ghost'",
      ])
    )
    // A check whose own fields are broken does not run on them.
    const broken = issuesOf(() => parseConfig({ models: [{ name: 5, upstreams: [{ url: 'http://x' }] }, { name: 'b', upstreams: [{ url: 'http://x' }], fallback: ['c'] }] }))
    expect(broken).toEqual(['models[0].name: expected a string, got a number'])
  })

  it('bounds the durations that arm timers at 24d; others may be longer', () => {
    const m = (over: Record<string, unknown>) => ({ models: [{ ...minimal.models[0], ...over }] })
    const TOO_LONG = 'must be at most 24d (it arms a timer, and Node timers end at ~24.8 days)'
    expect(issuesOf(() => parseConfig(m({ timeouts: { total: '30d', first_token: '25d' } })))).toEqual([
      `models[0].timeouts.first_token: ${TOO_LONG}`,
      `models[0].timeouts.total: ${TOO_LONG}`,
    ])
    expect(issuesOf(() => parseConfig({ ...m({ health: { interval: '30d' }, queue: { timeout: '30d' } }), server: { drain_timeout: '30d' }, usage: { flush_interval: '30d' } }))).toEqual([
      `server.drain_timeout: ${TOO_LONG}`,
      `usage.flush_interval: ${TOO_LONG}`,
      `models[0].health.interval: ${TOO_LONG}`,
      `models[0].queue.timeout: ${TOO_LONG}`,
    ])
    expect(issuesOf(() => parseConfig({ ...minimal, state: { timeout: '7d' } }))[0]).toMatch(/^state\.timeout: must be at most 6d/)
    const c = parseConfig({ ...m({ timeouts: { total: '24d' }, outlier: { base_ejection_time: '30d' }, health: { slow_start: '30d' } }), usage: { retention: '365d' }, server: { cors: { max_age: '30d' } } })
    expect(c.models[0]!.timeouts.total).toBe(24 * 86_400_000)
    expect(c.usage.retention).toBe(365 * 86_400_000)
  })

  it('refuses timeouts and probe intervals that would time out every request or busy-loop', () => {
    const m = (over: Record<string, unknown>) => ({ models: [{ ...minimal.models[0], ...over }] })
    expect(issuesOf(() => parseConfig(m({ timeouts: { connect: 0, first_token: 0, idle: '0s', total: 0 }, health: { interval: 0, timeout: 0 } })))).toEqual([
      'models[0].timeouts.connect: must be more than 0',
      'models[0].timeouts.first_token: must be more than 0',
      'models[0].timeouts.idle: must be more than 0',
      'models[0].timeouts.total: must be more than 0',
      'models[0].health.interval: must be at least 100ms',
      'models[0].health.timeout: must be more than 0',
    ])
    // 0 keeps its documented meaning where it has one.
    const c = parseConfig({ ...m({ timeouts: { keepalive: 0 }, health: { interval: '100ms', timeout: 1 } }), server: { request_timeout: 0, headers_timeout: 0 } })
    expect(c.models[0]!.timeouts.keepalive).toBe(0)
    expect(c.server.request_timeout).toBe(0)
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

describe('edge and filter settings', () => {
  it('fills the edge defaults', () => {
    const c = parseConfig(minimal)
    expect(c.server).toMatchObject({
      headers_timeout: 10_000,
      request_timeout: 120_000,
      max_header_size: 16 * 1024,
      max_connections: 10_000,
      max_connections_per_ip: 0,
      trusted_proxies: [],
      cors: { origins: [], max_age: 600_000 },
    })
    expect(c.server.tls).toBeUndefined()
    expect(c.filters).toEqual({ validate: true, max_messages: 2048, max_json_depth: 64, deny: [], redact_pii: [] })
  })

  it('fills the HTTP/2 rapid-reset guard defaults and names bad values by path', () => {
    expect(parseConfig(minimal).server).toMatchObject({ http2_premature_reset_streams: 200, http2_premature_reset_lifetime: 1000 })
    expect(parseConfig({ ...minimal, server: { http2_premature_reset_streams: 0, http2_premature_reset_lifetime: '250ms' } }).server).toMatchObject({
      http2_premature_reset_streams: 0,
      http2_premature_reset_lifetime: 250,
    })
    const issues = issuesOf(() => parseConfig({ ...minimal, server: { http2_premature_reset_streams: -1, http2_premature_reset_lifetime: 0 } }))
    expect(issues.some((i) => i.startsWith('server.http2_premature_reset_streams:'))).toBe(true)
    expect(issues).toContain('server.http2_premature_reset_lifetime: must be more than 0')
    expect(issuesOf(() => parseConfig({ ...minimal, server: { http2_premature_reset_lifetime: 'soon' } }))).toContain(
      'server.http2_premature_reset_lifetime: must be a duration like 250ms, 5s or 2m'
    )
  })

  it('takes the issue example as written', () => {
    const c = parseConfig({
      ...minimal,
      server: { tls: { cert: './tls/cert.pem', key: './tls/key.pem' }, redirect_http_port: 8079, trusted_proxies: ['127.0.0.1/32'], cors: { origins: [] } },
      filters: { max_messages: 500, max_json_depth: 32, max_tokens: { limit: 4096, action: 'clamp' }, deny: ['(?i)ignore all previous instructions'], redact_pii: ['email', 'phone', 'card'] },
    })
    expect(c.filters.max_tokens).toEqual({ limit: 4096, action: 'clamp' })
    expect(c.server.redirect_http_port).toBe(8079)
  })

  it('names each bad edge or filter field by its path', () => {
    const issues = issuesOf(() =>
      parseConfig({
        ...minimal,
        server: {
          trusted_proxies: ['10.0.0.0/8', '10.0.0.0/33', 'localhost'],
          cors: { origins: ['https://ok.example', 'https://bad.example/path'] },
          headers_timeout: '5m',
          request_timeout: '1m',
          redirect_http_port: 8079,
        },
        filters: { redact_pii: ['email', 'ssn'], max_tokens: { limit: 0, action: 'truncate' } },
      })
    )
    expect(issues).toContain('server.trusted_proxies[1]: must be an IP address or a CIDR block like 10.0.0.0/8 or fd00::/8')
    expect(issues).toContain('server.trusted_proxies[2]: must be an IP address or a CIDR block like 10.0.0.0/8 or fd00::/8')
    expect(issues.some((i) => i.startsWith('server.cors.origins[1]: must be * or an origin'))).toBe(true)
    expect(issues.some((i) => i.startsWith('filters.redact_pii[1]: must be one of: email, phone, card'))).toBe(true)
    expect(issues.some((i) => i.startsWith('filters.max_tokens.limit:'))).toBe(true)
    expect(issues.some((i) => i.startsWith('filters.max_tokens.action: must be one of: clamp, reject'))).toBe(true)
  })

  it('checks settings against each other', () => {
    expect(issuesOf(() => parseConfig({ ...minimal, server: { headers_timeout: '5m', request_timeout: '1m' } }))).toContain(
      'server.headers_timeout: must not exceed server.request_timeout'
    )
    expect(issuesOf(() => parseConfig({ ...minimal, server: { redirect_http_port: 8079 } }))).toContain(
      'server.redirect_http_port: needs server.tls (it redirects to the HTTPS listener)'
    )
  })

  it('refuses the admin API on the data plane port (start would fail, reading as if another process held it)', () => {
    const tls = { cert: './c.pem', key: './k.pem' }
    expect(issuesOf(() => parseConfig({ ...minimal, server: { port: 9000 }, admin: { port: 9000 } }))).toEqual([
      'admin.port: must differ from server.port (the admin API has its own listener)',
    ])
    // A wildcard host takes the port on every address.
    expect(issuesOf(() => parseConfig({ ...minimal, server: { host: '0.0.0.0', port: 9000 }, admin: { host: '127.0.0.1', port: 9000 } }))).toHaveLength(1)
    expect(issuesOf(() => parseConfig({ ...minimal, server: { tls, port: 9443, redirect_http_port: 9000 }, admin: { port: 9000 } }))).toEqual([
      'admin.port: must differ from server.redirect_http_port',
    ])
    // Two addresses may share a port number; 0 is any free port.
    expect(() => parseConfig({ ...minimal, server: { host: '127.0.0.2', port: 9000 }, admin: { host: '127.0.0.1', port: 9000 } })).not.toThrow()
    expect(() => parseConfig({ ...minimal, server: { port: 0 }, admin: { port: 0 } })).not.toThrow()
    // Shown with every other problem, not behind them.
    expect(issuesOf(() => parseConfig({ ...minimal, server: { port: 9000, keep_alive_timeout: 'x' }, admin: { port: 9000 } }))).toContain(
      'admin.port: must differ from server.port (the admin API has its own listener)'
    )
  })
})
