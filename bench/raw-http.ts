// A load generator and an upstream cheap enough that the gateway, not they, is the
// bottleneck. With undici's Pool as the client and the simulator as the upstream, both on
// core 1, the gateway's core sat 66–84% busy: its CPU per request was measured, but never its
// throughput, which is what "throughput loss" means. Here both sides are plain node:net
// sockets with prepared bytes (a few µs per request each), so one core drives the gateway's
// core to saturation. HTTP/1.1 only, well-formed traffic only: a measuring tool, not a client.
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import type { LoadResult } from './lib.js'

const CRLFCRLF = Buffer.from('\r\n\r\n')

/** The simulator's answer to the bench's chat request, with the same headers and usage. */
const ANSWER_BODY = JSON.stringify({
  id: 'chatcmpl-2d1fc5692eae404db64395c15a37009c',
  object: 'chat.completion',
  created: 1796327768,
  model: 'bench',
  choices: [
    {
      index: 0,
      message: { role: 'assistant', content: ' stone data bridge signal token token finds token stream server prompt batch simple holds paper token' },
      logprobs: null,
      finish_reason: 'length',
    },
  ],
  usage: { prompt_tokens: 4, completion_tokens: 16, total_tokens: 20 },
})

/** An upstream that answers every request with the same prepared chat completion. */
export async function cannedUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const answer = Buffer.from(
    `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(ANSWER_BODY)}\r\n` +
      `Date: Thu, 03 Dec 2026 19:56:08 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=65\r\n\r\n${ANSWER_BODY}`
  )
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    socket.setNoDelay(true)
    let buf: Buffer = Buffer.alloc(0)
    socket.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d])
      for (;;) {
        const end = buf.indexOf(CRLFCRLF)
        if (end < 0) return
        const length = contentLength(buf.subarray(0, end))
        const total = end + 4 + length
        if (buf.length < total) return
        buf = buf.subarray(total)
        socket.write(answer)
      }
    })
    socket.on('error', () => socket.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

/** The value of a head's Content-Length (0 when absent). */
function contentLength(head: Buffer): number {
  const m = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head.toString('latin1'))
  return m === null ? 0 : Number(m[1])
}

/**
 * `connections` keep-alive connections, each POSTing `body` to `url` and waiting for the whole
 * answer (Content-Length or chunked) before the next, until `seconds` pass. Latencies in ms.
 */
export async function rawLoad(url: string, body: string, connections: number, seconds: number, headers: Record<string, string>): Promise<LoadResult> {
  const u = new URL(url)
  let head = `POST ${u.pathname}${u.search} HTTP/1.1\r\nhost: ${u.host}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`
  const request = Buffer.from(`${head}\r\n${body}`)
  const latencies: number[] = []
  let errors = 0
  const start = performance.now()
  const until = start + seconds * 1000
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const socket = createConnection({ host: u.hostname, port: Number(u.port) })
      socket.setNoDelay(true)
      let buf: Buffer = Buffer.alloc(0)
      let t0 = 0
      const send = (): void => {
        if (performance.now() >= until) {
          socket.end()
          return resolve()
        }
        t0 = performance.now()
        socket.write(request)
      }
      socket.once('connect', send)
      socket.on('data', (d: Buffer) => {
        buf = buf.length === 0 ? d : Buffer.concat([buf, d])
        const done = complete(buf)
        if (done < 0) return
        const status = Number(buf.toString('latin1', 9, 12))
        if (status === 200) latencies.push(performance.now() - t0)
        else errors++
        buf = buf.subarray(done)
        send()
      })
      socket.on('error', () => {
        errors++
        resolve()
      })
      socket.on('close', () => resolve())
    })
  await Promise.all(Array.from({ length: connections }, one))
  const elapsed = (performance.now() - start) / 1000
  latencies.sort((a, b) => a - b)
  const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))] ?? Number.NaN
  return { requests: latencies.length + errors, errors, rps: latencies.length / elapsed, p50: pct(50), p99: pct(99) }
}

/** The length of the first whole response in buf, or -1 while it is incomplete. */
function complete(buf: Buffer): number {
  const end = buf.indexOf(CRLFCRLF)
  if (end < 0) return -1
  const head = buf.toString('latin1', 0, end)
  const bodyStart = end + 4
  if (!/\r\ntransfer-encoding:[ \t]*chunked/i.test(head)) {
    const total = bodyStart + contentLength(buf.subarray(0, end))
    return buf.length >= total ? total : -1
  }
  let at = bodyStart
  for (;;) {
    const line = buf.indexOf('\r\n', at)
    if (line < 0) return -1
    const size = parseInt(buf.toString('latin1', at, line), 16)
    const next = line + 2 + size + 2
    if (buf.length < next) return -1
    if (size === 0) return next
    at = next
  }
}
