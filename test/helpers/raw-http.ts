// Raw sockets for edge tests: send exact bytes (smuggling vectors, slow clients) and read
// what comes back until the server closes the connection.
import { connect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'

export interface RawResult {
  /** Everything the server sent. */
  readonly text: string
  /** The status code of the first response, 0 when none came. */
  readonly status: number
  /** The first response's body parsed as JSON, when it was JSON. */
  readonly json: any
  /** ms from connect until the server closed the connection. */
  readonly closedAfterMs: number
}

export interface RawOptions {
  /** Send one byte at a time, this many ms apart. */
  readonly byteDelayMs?: number
  /** Give up (and destroy the socket) after this long. */
  readonly timeoutMs?: number
  /** Plain connections only. */
  readonly localAddress?: string
  /** Connect with TLS (no certificate checks), offering these ALPN protocols. */
  readonly tls?: { readonly alpn: string[] }
}

export function rawRequest(url: string, bytes: string, options: RawOptions = {}): Promise<RawResult> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const t0 = Date.now()
    let text = ''
    const onReady = (): void => {
      void send(socket, bytes, options.byteDelayMs ?? 0)
    }
    const socket: Socket = options.tls
      ? tlsConnect({ host: hostname, port: Number(port), rejectUnauthorized: false, ALPNProtocols: options.tls.alpn }, onReady)
      : connect({ host: hostname, port: Number(port), localAddress: options.localAddress }, onReady)
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => (text += d))
    socket.on('error', () => {})
    const timer = setTimeout(() => socket.destroy(), options.timeoutMs ?? 10_000)
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(parse(text, Date.now() - t0))
    })
  })
}

async function send(socket: Socket, bytes: string, delay: number): Promise<void> {
  if (delay === 0) {
    socket.write(bytes)
    return
  }
  for (const ch of bytes) {
    if (socket.destroyed || !socket.writable) return
    socket.write(ch)
    await new Promise((r) => setTimeout(r, delay))
  }
}

function parse(text: string, closedAfterMs: number): RawResult {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)
  const sep = text.indexOf('\r\n\r\n')
  let json: any
  if (sep !== -1) {
    try {
      json = JSON.parse(text.slice(sep + 4))
    } catch {
      json = undefined
    }
  }
  return { text, status, json, closedAfterMs }
}
