// Request dispatch for the simulator: the /v1/* model API (with faults), health, metrics and the
// /sim/* control endpoints.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { AdmissionQueue } from './admission-queue.js'
import { serveEmbeddings } from './embeddings.js'
import { Exchange } from './exchange.js'
import type { Fault } from './fault.js'
import { NO_FAULT, parseFault } from './fault.js'
import { serveGeneration } from './generate.js'
import { METRICS_CONTENT_TYPE, renderMetrics } from './metrics.js'
import { SimHttpError, writeError, writeJson } from './reply.js'
import type { ParsedBody } from './request-body.js'
import { parseBody, readBody } from './request-body.js'
import type { ServeContext, SimConfig } from './serve-context.js'
import { faultLatency } from './serve-context.js'
import { SimStats } from './stats.js'

type Method = 'GET' | 'POST'
type ApiHandler = (ex: Exchange, body: ParsedBody, ctx: ServeContext) => void

interface ApiRoute {
  readonly method: Method
  readonly handle: ApiHandler
}

export class Simulator {
  readonly stats = new SimStats()
  readonly queue: AdmissionQueue
  fault: Fault = NO_FAULT
  readonly #created = Math.floor(Date.now() / 1000)
  readonly #api: Readonly<Record<string, ApiRoute>>

  constructor(readonly config: SimConfig) {
    this.queue = new AdmissionQueue(config.maxConcurrency)
    this.#api = {
      '/v1/chat/completions': {
        method: 'POST',
        handle: (ex, body, ctx) => serveGeneration('chat', ex, body, ctx),
      },
      '/v1/completions': {
        method: 'POST',
        handle: (ex, body, ctx) => serveGeneration('completion', ex, body, ctx),
      },
      '/v1/embeddings': { method: 'POST', handle: serveEmbeddings },
      '/v1/models': { method: 'GET', handle: this.#serveModels },
    }
  }

  /** The node:http request listener. */
  handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (this.config.name !== undefined) res.setHeader('x-sim-name', this.config.name)
    const url = req.url ?? '/'
    const query = url.indexOf('?')
    const path = query === -1 ? url : url.slice(0, query)
    if (path.startsWith('/sim/')) {
      this.#control(req, res, path).catch((err: unknown) => fail(res, err))
      return
    }
    this.stats.countPath(path)
    if (path.startsWith('/v1/')) {
      const ex = new Exchange(req, res, this.stats)
      this.#serveApi(ex, path, url).catch((err: unknown) => {
        if (!ex.closed) fail(res, err)
      })
      return
    }
    try {
      this.#serveOps(req, res, path)
    } catch (err) {
      fail(res, err)
    }
  }

  async #serveApi(ex: Exchange, path: string, url: string): Promise<void> {
    const { req } = ex
    const body = parseBody(await readBody(req))
    this.stats.recordRequest(req.method ?? 'GET', path, url, req.headers, body)
    if (ex.closed) return
    const route = this.#api[path]
    if (route === undefined) throw notFound(req, path)
    checkMethod(req, route.method)
    const fault = this.fault
    if (this.#refuse(ex, fault)) return
    route.handle(ex, body, { config: this.config, stats: this.stats, queue: this.queue, fault })
  }

  /** Faults that answer (or never answer) without doing the work; true when one applied. */
  #refuse(ex: Exchange, fault: Fault): boolean {
    switch (fault.mode) {
      case 'down':
        writeError(ex.res, unavailable())
        return true
      case 'error': {
        const message = 'The server had an error while processing your request (simulated).'
        writeError(ex.res, new SimHttpError(500, message, 'server_error', 'internal_error'))
        return true
      }
      case 'rate-limit': {
        const message = 'Rate limit reached for requests (simulated).'
        const headers = { 'retry-after': String(fault.retry_after) }
        const code = 'rate_limit_exceeded'
        writeError(ex.res, new SimHttpError(429, message, code, code, null, headers))
        return true
      }
      case 'hang':
        // Accept and never answer; the Exchange still sees the client leave.
        return true
      case 'ok':
      case 'slow':
      case 'drop-mid-stream':
        return false
    }
  }

  #serveModels = (ex: Exchange, _body: ParsedBody, ctx: ServeContext): void => {
    if (ctx.fault.mode === 'drop-mid-stream') {
      ex.drop()
      return
    }
    const { model } = this.config
    const entry = {
      id: model,
      object: 'model',
      created: this.#created,
      owned_by: 'switchyard-sim',
      root: model,
      parent: null,
    }
    const list = { object: 'list', data: [entry] }
    ex.after(faultLatency(ctx.fault), () => writeJson(ex.res, 200, list))
  }

  #serveOps(req: IncomingMessage, res: ServerResponse, path: string): void {
    if (path === '/health') {
      checkMethod(req, 'GET')
      if (this.fault.mode === 'down') writeJson(res, 503, { status: 'down' })
      else writeJson(res, 200, { status: 'ok' })
      return
    }
    if (path === '/metrics') {
      checkMethod(req, 'GET')
      const text = renderMetrics(this.config.model, this.stats, this.queue.waiting)
      res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE })
      res.end(text)
      return
    }
    throw notFound(req, path)
  }

  async #control(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (path === '/sim/fault') {
      if (req.method === 'GET') {
        writeJson(res, 200, this.fault)
        return
      }
      checkMethod(req, 'GET', 'POST')
      const body = parseBody(await readBody(req))
      const parsed = parseFault(body.kind === 'json' ? body.value : undefined)
      if ('error' in parsed) throw new SimHttpError(400, parsed.error, 'invalid_request_error')
      this.fault = parsed.fault
      writeJson(res, 200, this.fault)
      return
    }
    if (path === '/sim/stats') {
      checkMethod(req, 'GET')
      writeJson(res, 200, this.stats.snapshot(this.queue.waiting))
      return
    }
    if (path === '/sim/reset') {
      checkMethod(req, 'POST')
      this.stats.reset()
      writeJson(res, 200, this.stats.snapshot(this.queue.waiting))
      return
    }
    throw notFound(req, path)
  }
}

function checkMethod(req: IncomingMessage, ...allowed: Method[]): void {
  if (allowed.some((method) => method === req.method)) return
  const allow = allowed.join(', ')
  const message = `Method ${req.method ?? ''} is not allowed here; use ${allow}.`
  const headers = { allow }
  throw new SimHttpError(405, message, 'invalid_request_error', 'method_not_allowed', null, headers)
}

function notFound(req: IncomingMessage, path: string): SimHttpError {
  const message = `Invalid URL (${req.method ?? ''} ${path})`
  return new SimHttpError(404, message, 'invalid_request_error', 'not_found')
}

function unavailable(): SimHttpError {
  const message = 'The server is not available (simulated: down).'
  return new SimHttpError(503, message, 'server_error', 'service_unavailable')
}

/** The one place a failure becomes a response; after the headers it can only cut the socket. */
function fail(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  if (err instanceof SimHttpError) {
    writeError(res, err)
    return
  }
  const message = err instanceof Error ? err.message : String(err)
  writeError(res, new SimHttpError(500, `Simulator failure: ${message}`, 'server_error'))
}
