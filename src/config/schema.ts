// The config schema: the single source of truth for the shape of switchyard.yaml.
// Types come from it (z.output); nothing in src/ reads raw YAML.
import { z } from 'zod'
import { strategyNames } from '../balancing/registry.js'
import { authSchema, checkAccessRefs, storeSchema } from './auth-schema.js'
import { corsOrigin, tlsSchema, trustedProxiesSchema } from './edge.js'
import { filtersSchema } from './filters.js'
import { limitsSchema, stateSchema } from './limits-schema.js'
import { metricsSchema, tracingSchema, usageSchema } from './observability.js'
import { pricesSchema } from './prices.js'
import { fields, whenParsed } from './when-parsed.js'
import { duration, size, timerDuration } from './zod-units.js'

const POSITIVE = 'must be more than 0'

export { duration, size } from './zod-units.js'

const httpUrl = z.string().refine(
  (s) => {
    try {
      const u = new URL(s)
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== ''
    } catch {
      return false
    }
  },
  { message: 'must be an http(s) URL' }
)

/** Credentials in an upstream URL (http://user:pass@host/v1), sent as Basic auth. */
function urlCredentials(s: string): boolean {
  try {
    const u = new URL(s)
    return u.username !== '' || u.password !== ''
  } catch {
    return false
  }
}

/** RFC 9110 token: what a header name may be. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** No control characters (CR and LF would split the header). */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/
/** Framing and hop-by-hop headers are the gateway's to set, per connection and per body. */
const RESERVED_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'expect', 'http2-settings'])

const upstreamHeaders = z.record(z.string(), z.string()).superRefine((headers, ctx) => {
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'is not a valid header name' })
    else if (RESERVED_HEADERS.has(name.toLowerCase())) ctx.addIssue({ code: 'custom', path: [name], message: 'is set by the gateway itself' })
    if (!HEADER_VALUE.test(value)) ctx.addIssue({ code: 'custom', path: [name], message: 'must not contain control characters' })
  }
})

const port = z.number().int().min(0).max(65535)
const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:@/-]*$/, {
  message: 'must be letters, digits and . _ : @ / - (starting with a letter or digit)',
})

export const upstreamSchema = z.strictObject({
  /** A query in it (Azure's ?api-version=…) is sent with every request, over the client's; credentials in it as Basic auth. */
  url: httpUrl,
  name: name.optional(),
  model: z.string().min(1).optional(),
  api_key: z.string().min(1).optional(),
  weight: z.number().positive().default(1),
  max_concurrency: z.number().int().positive().optional(),
  discovery: z.enum(['dns']).optional(),
  /** With `discovery: dns`: how often the host is resolved again (default 10 s). */
  discovery_interval: timerDuration(100, 'must be at least 100ms').optional(),
  /** Extra headers sent upstream (e.g. OpenAI-Organization); never returned to clients. */
  headers: upstreamHeaders.optional(),
  /**
   * Ask it for stream usage (`stream_options.include_usage`, put into streaming requests that
   * lack it). Off for servers that refuse the field (older Azure OpenAI api-versions): their
   * streams' usage is then estimated.
   */
  stream_usage: z.boolean().default(true),
})
  .refine((u) => u.discovery_interval === undefined || u.discovery !== undefined, {
    message: 'only applies with discovery: dns',
    path: ['discovery_interval'],
    ...whenParsed(fields('discovery', 'discovery_interval')),
  })
  .refine((u) => u.api_key === undefined || !Object.keys(u.headers ?? {}).some((h) => h.toLowerCase() === 'authorization'), {
    message: 'an authorization header and api_key would both be sent: set one',
    path: ['headers'],
    ...whenParsed(fields('api_key', 'headers')),
  })
  .refine((u) => !urlCredentials(u.url) || (u.api_key === undefined && !Object.keys(u.headers ?? {}).some((h) => h.toLowerCase() === 'authorization')), {
    message: 'credentials in the URL are sent as Basic auth: not with api_key or an authorization header',
    path: ['url'],
    ...whenParsed(fields('url', 'api_key', 'headers')),
  })

export const timeoutsSchema = z.strictObject({
  connect: timerDuration(1, POSITIVE).default(5_000),
  /** Until the first response byte; for a non-streaming call that is the whole generation. */
  first_token: timerDuration(1, POSITIVE).default(120_000),
  /** Longest gap between two body chunks. */
  idle: timerDuration(1, POSITIVE).default(60_000),
  total: timerDuration(1, POSITIVE).default(600_000),
  /** Commit the stream early and send `: ping` this often until the first byte (0 = off). */
  keepalive: timerDuration().default(0),
})

export const retriesSchema = z.strictObject({
  /** Further tries after the first, each on a different upstream. */
  attempts: z.number().int().min(0).max(10).default(2),
  /** Retries may be at most this share of requests over a sliding window. */
  budget_percent: z.number().min(0).max(100).default(20),
})

export const healthSchema = z.strictObject({
  path: z.string().startsWith('/').default('/health'),
  /** Probes are spaced this far apart: a tiny interval would probe in a busy loop. */
  interval: timerDuration(100, 'must be at least 100ms').default(2_000),
  timeout: timerDuration(1, POSITIVE).default(1_000),
  healthy_threshold: z.number().int().positive().default(2),
  unhealthy_threshold: z.number().int().positive().default(3),
  slow_start: duration().default(0),
})

export const outlierSchema = z.strictObject({
  consecutive_failures: z.number().int().positive().default(5),
  base_ejection_time: duration().default(30_000),
  max_ejection_percent: z.number().min(0).max(100).default(50),
})

export const queueSchema = z.strictObject({
  max: z.number().int().min(0).default(1000),
  timeout: timerDuration().default(10_000),
})

export const affinitySchema = z.strictObject({
  header: z.string().min(1).default('x-session-id'),
  max_load_factor: z.number().min(1).default(1.25),
})

export const modelSchema = z.strictObject({
  name,
  strategy: z.enum(strategyNames).default('round-robin'),
  upstreams: z.array(upstreamSchema).min(1, { message: 'needs at least one upstream' }),
  timeouts: timeoutsSchema.prefault({}),
  retries: retriesSchema.prefault({}),
  /** Active health checks; off unless the section is present. */
  health: healthSchema.optional(),
  outlier: outlierSchema.prefault({}),
  queue: queueSchema.prefault({}),
  affinity: affinitySchema.prefault({}),
  fallback: z.array(name).default([]),
})

export const corsSchema = z.strictObject({
  /** Browser origins allowed to call the data plane; empty = CORS off. */
  origins: z.array(corsOrigin).default([]),
  /** How long browsers may cache a preflight answer. */
  max_age: duration().default(600_000),
})

export const serverSchema = z
  .strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    port: port.default(8080),
    max_body: size().default(10 * 1024 * 1024),
    /** How long in-flight requests may run on after SIGTERM. */
    drain_timeout: timerDuration().default(30_000),
    keep_alive_timeout: timerDuration().default(65_000),
    /** Time a client has to send its request headers (and finish a TLS handshake): slowloris guard. */
    headers_timeout: timerDuration().default(10_000),
    /** Time a client has to send the whole request, body included (0 = no limit). */
    request_timeout: timerDuration().default(120_000),
    /** Largest request header block (431 beyond it). */
    max_header_size: size().default(16 * 1024),
    /** Open client connections at most; more are refused at accept (0 = no limit). */
    max_connections: z.number().int().min(0).default(10_000),
    /** Open connections per client address; trusted proxies are exempt (0 = no limit). */
    max_connections_per_ip: z.number().int().min(0).default(0),
    /**
     * IPv6 clients are counted by this many leading bits in per-client-IP controls
     * (limits.per_ip, max_connections_per_ip): one subscriber is given a whole /64 or more.
     * 128 = each address on its own.
     */
    client_ipv6_prefix: z.number().int().min(1).max(128).default(64),
    /** Concurrent streams one HTTP/2 connection may open (nginx: 128, Go: 250). Read at start. */
    http2_max_streams: z.number().int().min(1).max(2 ** 31 - 1).default(128),
    /**
     * Rapid-reset guard (Envoy's premature_reset_total_stream_count): an HTTP/2 connection is
     * closed once half this many streams were reset before their answer, or after this many
     * streams at a 50% share or more (0 = off).
     */
    http2_premature_reset_streams: z.number().int().min(0).max(1_000_000).default(200),
    /** Streams that lived this long are never premature (Envoy's premature_reset_min_stream_lifetime_seconds). */
    http2_premature_reset_lifetime: duration()
      .refine((ms) => ms > 0, { message: POSITIVE })
      .refine((ms) => ms <= 3_600_000, { message: 'must be at most 1h' })
      .default(1_000),
    /** HTTPS (HTTP/2 by ALPN, HTTP/1.1 fallback) with these PEM files. */
    tls: tlsSchema.optional(),
    /** A plain-HTTP listener on this port that redirects (308) to the HTTPS one. */
    redirect_http_port: port.optional(),
    /** Peers whose X-Forwarded-For is believed. */
    trusted_proxies: trustedProxiesSchema,
    cors: corsSchema.prefault({}),
  })
  .superRefine((s, ctx) => {
    if (s.request_timeout > 0 && s.headers_timeout > s.request_timeout) {
      ctx.addIssue({ code: 'custom', path: ['headers_timeout'], message: 'must not exceed server.request_timeout' })
    }
    if (s.redirect_http_port !== undefined && s.tls === undefined) {
      ctx.addIssue({ code: 'custom', path: ['redirect_http_port'], message: 'needs server.tls (it redirects to the HTTPS listener)' })
    }
    if (s.redirect_http_port !== undefined && s.redirect_http_port !== 0 && s.redirect_http_port === s.port) {
      ctx.addIssue({ code: 'custom', path: ['redirect_http_port'], message: 'must differ from server.port' })
    }
  }, whenParsed(fields('request_timeout', 'headers_timeout', 'redirect_http_port', 'tls', 'port')))

export const adminSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: port.default(8081),
  token: z
    .string()
    .min(1)
    // Node trims a header value's ends: a token that starts or ends with whitespace never matches.
    .refine((t) => t.trim() === t, { message: 'must not start or end with whitespace (it could never match a request)' })
    .optional(),
})

export const loggingSchema = z.strictObject({
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /** stdout, off, or a file path. */
  access_log: z.string().min(1).default('stdout'),
})

/** Model names, fallbacks and upstream names: what the duplicate and fallback checks read. */
function readsModelNames(path: readonly PropertyKey[]): boolean {
  if (path[0] !== 'models') return path.length === 0
  if (path.length <= 2 || path[2] === 'name' || path[2] === 'fallback') return true
  return path[2] === 'upstreams' && (path.length <= 4 || path[4] === 'name')
}

/** Model names, keys' names, hashes and allow-lists, and the per-model limits' names. */
function readsAccessRefs(path: readonly PropertyKey[]): boolean {
  if (path[0] === 'auth') return path.length <= 3 || ['name', 'hash', 'models'].includes(String(path[3]))
  if (path[0] === 'limits') return path.length <= 2
  return path[0] === 'models' ? path.length <= 2 || path[2] === 'name' : path.length === 0
}

/** Hosts that bind every address: a port there is taken on every host. */
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]'])

function sameSocket(hostA: string, portA: number, hostB: string, portB: number): boolean {
  return portA !== 0 && portA === portB && (hostA === hostB || WILDCARD_HOSTS.has(hostA) || WILDCARD_HOSTS.has(hostB))
}

/**
 * The admin listener on the data plane's port (or the redirect's): `start` would fail on an
 * address in use by itself, which reads like another process holds it. Said by `validate`.
 */
function checkAdminPort(cfg: { server: { host: string; port: number; redirect_http_port?: number | undefined }; admin: { host: string; port: number } }, ctx: z.core.$RefinementCtx): void {
  const { server, admin } = cfg
  if (sameSocket(admin.host, admin.port, server.host, server.port)) {
    ctx.addIssue({ code: 'custom', path: ['admin', 'port'], message: 'must differ from server.port (the admin API has its own listener)' })
  } else if (server.redirect_http_port !== undefined && sameSocket(admin.host, admin.port, server.host, server.redirect_http_port)) {
    ctx.addIssue({ code: 'custom', path: ['admin', 'port'], message: 'must differ from server.redirect_http_port' })
  }
}

function readsListeners(path: readonly PropertyKey[]): boolean {
  if (path.length <= 1) return path.length === 0 || path[0] === 'server' || path[0] === 'admin'
  const field = String(path[1])
  return (path[0] === 'server' || path[0] === 'admin') && (field === 'host' || field === 'port' || field === 'redirect_http_port')
}

export const configSchema = z
  .strictObject({
    server: serverSchema.prefault({}),
    admin: adminSchema.prefault({}),
    logging: loggingSchema.prefault({}),
    metrics: metricsSchema.prefault({}),
    usage: usageSchema.prefault({}),
    /** Absent: on only when the standard OTEL_EXPORTER_OTLP_* variables name an endpoint. */
    tracing: tracingSchema.optional(),
    models: z.array(modelSchema).min(1, { message: 'needs at least one model' }),
    /** USD per 1M tokens, by model name (budgets and usage costs). */
    prices: pricesSchema,
    /** Request filtering: validation, limits, deny patterns, PII redaction. */
    filters: filtersSchema.prefault({}),
    /** Virtual keys; absent = open (with a warning at start). */
    auth: authSchema.optional(),
    limits: limitsSchema.prefault({}),
    state: stateSchema.prefault({}),
    /** Embedded store for run-time keys and spend; absent = config keys only, spend in memory. */
    store: storeSchema.optional(),
  })
  .superRefine(checkAccessRefs, whenParsed(readsAccessRefs))
  .superRefine(checkAdminPort, whenParsed(readsListeners))
  .superRefine((cfg, ctx) => {
    const names = new Set<string>()
    cfg.models.forEach((m, i) => {
      if (names.has(m.name)) {
        ctx.addIssue({ code: 'custom', path: ['models', i, 'name'], message: `duplicate model name '${m.name}'` })
      }
      names.add(m.name)
      // Ids as routing/membership.ts gives them: the name, else the index.
      const ids = new Map<string, number>()
      m.upstreams.forEach((u, j) => {
        const id = u.name ?? String(j)
        const other = ids.get(id)
        if (other !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['models', i, 'upstreams', j, ...(u.name === undefined ? [] : ['name'])],
            message:
              u.name !== undefined && m.upstreams[other]!.name !== undefined
                ? `duplicate upstream name '${u.name}' in model '${m.name}'`
                : `upstream id '${id}' in model '${m.name}' is also upstreams[${other}]'s (an unnamed upstream's id is its index): name them apart`,
          })
        }
        ids.set(id, j)
      })
      // `entry@address` is how a DNS entry's discovered endpoints are named (routing/membership.ts).
      m.upstreams.forEach((u, j) => {
        const at = u.name?.lastIndexOf('@') ?? -1
        if (at < 0) return
        const entry = m.upstreams[ids.get(u.name!.slice(0, at)) ?? -1]
        if (entry?.discovery === 'dns') {
          ctx.addIssue({
            code: 'custom',
            path: ['models', i, 'upstreams', j, 'name'],
            message: `'${u.name}' is the form of the endpoints DNS discovery finds for upstream '${u.name!.slice(0, at)}': name it otherwise`,
          })
        }
      })
    })
    cfg.models.forEach((m, i) => {
      m.fallback.forEach((f, j) => {
        if (f === m.name || !names.has(f)) {
          ctx.addIssue({
            code: 'custom',
            path: ['models', i, 'fallback', j],
            message: f === m.name ? 'a model cannot fall back to itself' : `unknown model '${f}'`,
          })
        }
      })
    })
  }, whenParsed(readsModelNames))

export type ConfigInput = z.input<typeof configSchema>
export type Config = z.output<typeof configSchema>
export type ModelConfig = Config['models'][number]
export type UpstreamConfig = ModelConfig['upstreams'][number]
