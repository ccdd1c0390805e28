// The model-server simulator: an OpenAI-compatible HTTP server that stands in for vLLM in tests,
// demos and benchmarks (`switchyard sim`), with configurable latency, throughput and faults.
import { createServer, validateHeaderValue } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { SimConfig } from './serve-context.js'
import { Simulator } from './simulator.js'

export interface SimOptions {
  /** Port to listen on; 0 picks a free one. Defaults to 0. */
  port?: number
  /** Defaults to '127.0.0.1'. */
  host?: string
  /** The model id GET /v1/models lists. Defaults to 'sim-model'. */
  model?: string
  /** Time to first token in ms. Defaults to 150. */
  ttftMs?: number
  /** Generation speed; 0 streams as fast as the client reads (no timers). Defaults to 50. */
  tokensPerSecond?: number
  /** Requests generating at once; more wait in a FIFO queue. Defaults to 0 (unlimited). */
  maxConcurrency?: number
  /** Output is a pure function of seed and prompt. Defaults to 1. */
  seed?: number
  /** Instance label, sent back as the `x-sim-name` response header. */
  name?: string
}

export interface SimServer {
  /** Base URL, e.g. http://127.0.0.1:PORT (no trailing slash, no /v1). */
  readonly url: string
  readonly port: number
  /** Stops listening and destroys every open socket, idle keep-alive ones included. Idempotent. */
  close(): Promise<void>
}

/** Starts a simulator; resolves once it is listening. Throws RangeError on invalid options. */
export async function startSim(options: SimOptions = {}): Promise<SimServer> {
  const host = options.host ?? '127.0.0.1'
  const sim = new Simulator(resolveConfig(options))
  const server = createServer(sim.handle)
  // Longer than the usual client pool idle time, so a gateway's pooled sockets are not
  // closed under it (Node's default is 5 s).
  server.keepAliveTimeout = 65_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  const urlHost = host.includes(':') ? `[${host}]` : host
  let closing: Promise<void> | undefined
  return {
    url: `http://${urlHost}:${port}`,
    port,
    close(): Promise<void> {
      // Idempotent, so a test's finally block and its afterEach may both call it.
      closing ??= new Promise((resolve, reject) => {
        server.close((err) => (err === undefined ? resolve() : reject(err)))
        server.closeAllConnections()
      })
      return closing
    },
  }
}

function resolveConfig(options: SimOptions): SimConfig {
  const ttftMs = nonNegative('ttftMs', options.ttftMs ?? 150)
  const tokensPerSecond = nonNegative('tokensPerSecond', options.tokensPerSecond ?? 50)
  const maxConcurrency = nonNegative('maxConcurrency', options.maxConcurrency ?? 0)
  if (!Number.isInteger(maxConcurrency)) throw new RangeError('maxConcurrency must be an integer')
  // Checked here, because a bad header value would otherwise throw inside every request.
  if (options.name !== undefined) validateHeaderValue('x-sim-name', options.name)
  return Object.freeze({
    model: options.model ?? 'sim-model',
    ttftMs,
    intervalMs: tokensPerSecond === 0 ? 0 : 1000 / tokensPerSecond,
    maxConcurrency,
    seed: options.seed ?? 1,
    name: options.name,
  })
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative number, got ${value}`)
  }
  return value
}
