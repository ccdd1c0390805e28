// The admin listener: a separate port (never the data plane's) for the admin API, metrics
// and the dashboard. Every route needs `Authorization: Bearer <admin.token>` unless it is
// registered as public.
import { timingSafeEqual, createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { bearerKey } from '../auth/keys.js'
import type { Logger } from '../observability/logger.js'
import { listen } from '../server/listen.js'

export interface AdminRequest {
  readonly method: string
  readonly path: string
  readonly params: Readonly<Record<string, string>>
  readonly query: URLSearchParams
  /** The parsed JSON body (undefined when there is none). */
  readonly body: unknown
  readonly req: IncomingMessage
  readonly res: ServerResponse
}

/** A JSON answer; `undefined` means the handler wrote the response itself (SSE, static files). */
export type AdminReply = { readonly status?: number; readonly body: unknown; readonly headers?: Record<string, string> } | undefined

export type AdminHandler = (req: AdminRequest) => AdminReply | Promise<AdminReply>

/** Thrown by handlers for a clean error answer in OpenAI's error shape. */
export class AdminError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code = status === 404 ? 'not_found' : 'invalid_request',
    /** The offending field (OpenAI's `param`), and every problem found when there are several. */
    readonly detail: { readonly param?: string; readonly issues?: readonly string[] } = {},
    /** Extra response headers (Allow on a 405). */
    readonly headers?: Record<string, string>
  ) {
    super(message)
  }

  toBody(): { error: Record<string, unknown> } {
    const type = this.status === 401 ? 'authentication_error' : this.status >= 500 ? 'server_error' : 'invalid_request_error'
    const error: Record<string, unknown> = { message: this.message, type, code: this.code, param: this.detail.param ?? null }
    if (this.detail.issues !== undefined) error.issues = this.detail.issues
    return { error }
  }
}

interface RouteEntry {
  readonly method: string
  readonly parts: readonly string[]
  readonly handler: AdminHandler
  readonly public: boolean
}

export interface AdminServerOptions {
  readonly host: string
  readonly port: number
  /** undefined: every protected route answers 401 saying the token is not configured. */
  readonly token: string | undefined
  readonly log: Logger
  readonly maxBody?: number
}

/** Below this many characters the admin token draws a warning. */
const MIN_TOKEN_LENGTH = 16

export class AdminServer {
  private readonly routes: RouteEntry[] = []
  private readonly server: Server
  private tokenHash: Buffer | undefined
  private address: AddressInfo | undefined

  constructor(private readonly options: AdminServerOptions) {
    this.tokenHash = options.token === undefined ? undefined : sha256(options.token)
    this.warnIfWeak(options.token)
    this.server = createServer({ keepAliveTimeout: 5_000, headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => {
      void this.handle(req, res)
    })
  }

  /** Registers a route; `:name` segments become params (URL-decoded). */
  route(method: string, pattern: string, handler: AdminHandler, options: { public?: boolean } = {}): void {
    this.routes.push({ method, parts: pattern.split('/'), handler, public: options.public === true })
  }

  /** Changes the admin token live (a config reload); undefined disables the protected routes. */
  setToken(token: string | undefined): void {
    this.tokenHash = token === undefined ? undefined : sha256(token)
    this.warnIfWeak(token)
  }

  /** The token guards key creation and every upstream: a short one can be guessed. */
  private warnIfWeak(token: string | undefined): void {
    if (token === undefined || token.length >= MIN_TOKEN_LENGTH) return
    this.options.log.warn(
      { length: token.length },
      `admin.token is shorter than ${MIN_TOKEN_LENGTH} characters: anyone who can reach the admin port could guess it (use 32 or more random characters)`
    )
  }

  get url(): string {
    if (this.address === undefined) throw new Error('admin server not started')
    return `http://${this.address.address}:${this.address.port}`
  }

  async start(): Promise<void> {
    this.address = await listen(this.server, this.options.port, this.options.host)
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve())
      this.server.closeAllConnections()
    })
  }

  /** Does the request carry the admin token? (Routes registered public may still ask.) */
  authorized(req: IncomingMessage): boolean {
    if (this.tokenHash === undefined) return false
    // Two Authorization headers: Node keeps the first; neither is taken.
    if ((req.headersDistinct.authorization?.length ?? 0) > 1) return false
    // "Bearer" in any case, as on the data plane.
    const token = bearerKey(req.headers.authorization)
    if (token === undefined) return false
    // Compare digests: constant time, and no length leak.
    return timingSafeEqual(sha256(token), this.tokenHash)
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin')
    const method = req.method ?? 'GET'
    try {
      const match = this.match(method, url.pathname)
      if (match === undefined) throw new AdminError(404, `Unknown admin URL: ${method} ${url.pathname}`)
      if (typeof match === 'string') {
        throw new AdminError(405, `Method ${method} is not allowed on ${url.pathname}`, 'method_not_allowed', {}, { allow: match })
      }
      const { entry, params } = match
      if (!entry.public && !this.authorized(req)) {
        throw new AdminError(
          401,
          this.tokenHash === undefined
            ? 'The admin API is disabled: set admin.token in the config.'
            : 'Missing or wrong admin token: send Authorization: Bearer <admin.token>.',
          'invalid_admin_token',
          {},
          { 'www-authenticate': 'Bearer realm="switchyard-admin"' }
        )
      }
      const body = method === 'GET' || method === 'HEAD' ? undefined : await readJson(req, this.options.maxBody ?? 1 << 20)
      const reply = await entry.handler({ method, path: url.pathname, params, query: url.searchParams, body, req, res })
      if (reply === undefined) return
      sendJson(res, reply.status ?? 200, reply.body, reply.headers)
    } catch (err) {
      if (res.headersSent) {
        res.destroy()
        return
      }
      if (err instanceof AdminError) {
        sendJson(res, err.status, err.toBody(), err.headers)
        return
      }
      this.options.log.error({ err: String(err), path: url.pathname }, 'admin request failed')
      sendJson(res, 500, { error: { message: 'The admin request failed.', type: 'server_error', code: 'internal_error', param: null } })
    }
  }

  /** The route for a request; a string (the Allow header's value) when the path has routes for other methods only. */
  private match(method: string, path: string): { entry: RouteEntry; params: Record<string, string> } | string | undefined {
    const parts = path.split('/')
    const allowed = new Set<string>()
    for (const entry of this.routes) {
      if (entry.parts.length !== parts.length) continue
      const params: Record<string, string> = {}
      let ok = true
      for (let i = 0; i < parts.length; i++) {
        const p = entry.parts[i]!
        if (p.startsWith(':')) {
          if (parts[i] === '') {
            ok = false
            break
          }
          params[p.slice(1)] = decodeSegment(parts[i]!)
        } else if (p !== parts[i]) {
          ok = false
          break
        }
      }
      if (!ok) continue
      if (entry.method !== method && !(entry.method === 'GET' && method === 'HEAD')) {
        allowed.add(entry.method)
        if (entry.method === 'GET') allowed.add('HEAD')
        continue
      }
      return { entry, params }
    }
    return allowed.size > 0 ? [...allowed].join(', ') : undefined
  }
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw new AdminError(400, `Malformed percent-encoding in the URL: ${segment}`, 'invalid_url')
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  const payload = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), 'cache-control': 'no-store', ...headers })
  res.end(payload)
}

async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > limit) throw new AdminError(413, 'Admin request body too large.', 'payload_too_large')
    chunks.push(chunk as Buffer)
  }
  if (size === 0) return undefined
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new AdminError(400, 'The request body is not valid JSON.', 'invalid_json')
  }
}
