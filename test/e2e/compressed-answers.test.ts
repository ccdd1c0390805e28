// An upstream that compresses its answer although the gateway asked for identity: the gateway
// decodes it on the way (usage read, usage it asked for removed, the client gets identity),
// keeps backpressure and abort working, reports a corrupt body as a broken stream, and passes
// a coding it cannot decode through untouched.
import { createServer, request, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { brotliCompressSync, constants, createGzip, deflateRawSync, deflateSync, gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type GatewayProcess } from '../helpers/gateway-process.js'
import { listenLocal } from '../helpers/ports.js'
import { eventually } from '../helpers/sim.js'

const USAGE = { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 }
const UPSTREAM_KEY = 'sk-upstream-compressed-5d1e77a0'
const ev = (delta: object, finish: string | null = null) => `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`
const CONTENT = ev({ role: 'assistant', content: '' }) + ['Hel', 'lo'].map((t) => ev({ content: t })).join('') + ev({}, 'stop')
const USAGE_EVENT = `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', choices: [], usage: USAGE })}\n\n`
const DONE = 'data: [DONE]\n\n'
const ANSWER = JSON.stringify({ id: 'x', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'Hello' }, finish_reason: 'stop' }], usage: USAGE })
/** 1 MB of text that compresses about 1000:1: 500 of them, then 3000 that compress little. */
const ALIKE_MB = ev({ content: 'x'.repeat(100_000) }).repeat(10)
const FLOOD_WRITES = 3500

const compress: Record<string, (b: Buffer) => Buffer> = {
  gzip: gzipSync,
  deflate: deflateSync,
  // Raw deflate under the name "deflate", as some servers send it.
  'deflate-raw': deflateRawSync,
  br: brotliCompressSync,
}

/** Gzip of `text`, flushed (so it decodes) but never finished: no end of stream, no trailer. */
function gzipUnfinished(text: string): Promise<Buffer> {
  return new Promise((resolve) => {
    const gz = createGzip()
    const out: Buffer[] = []
    gz.on('data', (d: Buffer) => out.push(d))
    gz.write(text)
    gz.flush(constants.Z_SYNC_FLUSH, () => resolve(Buffer.concat(out)))
  })
}

/** Sends `body` in three reads, apart in time: the decoder must work across them. */
function sendInParts(res: ServerResponse, body: Buffer): void {
  const a = Math.floor(body.length / 3)
  res.write(body.subarray(0, a))
  setTimeout(() => res.write(body.subarray(a, 2 * a)), 30)
  setTimeout(() => res.end(body.subarray(2 * a)), 60)
}

let upstream: Server
let gw: GatewayProcess
/** The flood: writes made so far, and whether the gateway hung up before its end. */
const flood = { written: 0, closedEarly: false }

beforeAll(async () => {
  upstream = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8').on('data', (d: string) => (body += d))
    req.on('end', () => {
      const wants = (JSON.parse(body) as { stream_options?: { include_usage?: boolean } }).stream_options?.include_usage === true
      const mode = req.headers['x-mode'] as string
      const coding = (req.headers['x-coding'] as string | undefined) ?? 'gzip'
      const encoding = coding === 'deflate-raw' ? 'deflate' : coding
      if (mode.startsWith('err')) {
        // An error answer quoting the credentials it got, compressed (a CDN in front may do it).
        const [, status, how] = mode.split('-') as [string, string, string]
        const text = JSON.stringify({ error: { message: `invalid key ${String(req.headers.authorization)}`, type: 'invalid_request_error' } })
        const bytes = how === 'zstd' ? Buffer.from(text) : compress[how]!(Buffer.from(text))
        res.writeHead(Number(status), { 'content-type': 'application/json', 'content-encoding': how, 'content-length': bytes.length })
        return res.end(bytes)
      }
      if (mode === 'json') {
        const bytes = gzipSync(ANSWER)
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': bytes.length })
        return res.end(bytes)
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'content-encoding': mode === 'unknown' ? 'zstd' : encoding })
      if (mode === 'stream') return sendInParts(res, compress[coding]!(Buffer.from(CONTENT + (wants ? USAGE_EVENT : '') + DONE)))
      if (mode === 'unknown') return res.end('not really zstd: passed as it came')
      if (mode === 'corrupt' || mode === 'truncated') {
        void gzipUnfinished(CONTENT).then((head) => {
          res.write(head)
          // 0xff: a deflate block of a type that does not exist.
          setTimeout(() => res.end(mode === 'corrupt' ? Buffer.alloc(64, 0xff) : undefined), 50)
        })
        return
      }
      // flood: a long stream as fast as the socket takes it. First 500 MB that compress to about
      // 500 KB (a decoder that ran ahead of the client would hold them), then events that
      // compress little, so the sockets' buffers fill and block the writer.
      flood.written = 0
      flood.closedEarly = false
      const gz = createGzip()
      gz.pipe(res)
      res.on('close', () => {
        if (flood.written < FLOOD_WRITES) flood.closedEarly = true
        gz.destroy()
      })
      const more = () => {
        while (flood.written < FLOOD_WRITES && !res.destroyed) {
          // Large writes: zlib's cost is per write.
          let batch = ALIKE_MB
          if (flood.written++ >= 500) {
            batch = ''
            for (let i = 0; i < 1000; i++) batch += ev({ content: randomBytes(12).toString('base64') })
          }
          if (!gz.write(batch)) return void gz.once('drain', more)
        }
        gz.end(DONE)
      }
      more()
    })
  })
  const url = `${await listenLocal(upstream)}/v1`
  gw = await startGateway({
    models: [
      { name: 'z', upstreams: [{ url, name: 'z' }], retries: { attempts: 0 } },
      // With credentials; a retry allowed but no other member: a 5xx is held, then relayed.
      { name: 'zk', upstreams: [{ url, name: 'zk', api_key: UPSTREAM_KEY }], retries: { attempts: 1 } },
    ],
  })
})

afterAll(async () => {
  await gw?.stop()
  upstream?.close()
})

interface Raw {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

/** node:http, which (unlike fetch) shows the bytes and headers as they came, undecoded. */
function ask(mode: string, id: string, extra: Record<string, unknown> = { stream: true }, coding = 'gzip', model = 'z'): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/json', 'x-mode': mode, 'x-coding': coding, 'x-request-id': id }
    const req = request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (d: Buffer) => chunks.push(d))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(JSON.stringify({ model, messages: [{ role: 'user', content: 'q' }], ...extra }))
  })
}

const line = async (id: string) => {
  await eventually(() => gw.accessLines().some((l) => l.request_id === id))
  return gw.accessLines().find((l) => l.request_id === id)!
}

describe('a compressed error answer that quotes the upstream key', () => {
  it.each([
    ['400', 'gzip'],
    ['400', 'br'],
    ['503', 'gzip'],
    ['503', 'deflate'],
  ])('%s in %s: decoded and relayed with the key masked (it used to reach the client compressed, key and all)', async (status, how) => {
    const id = `zk-${status}-${how}`
    const r = await ask(`err-${status}-${how}`, id, {}, 'gzip', 'zk')
    expect(r.status).toBe(Number(status))
    expect(r.headers['content-encoding']).toBeUndefined()
    // Held whole (a 5xx that could have been retried): its decoded length; else decoded on the way, chunked.
    if (status === '503') expect(Number(r.headers['content-length'])).toBe(r.body.length)
    else expect(r.headers['transfer-encoding']).toBe('chunked')
    const text = r.body.toString()
    expect(text).not.toContain(UPSTREAM_KEY)
    expect(JSON.parse(text).error.message).toBe(`invalid key Bearer ${'*'.repeat(UPSTREAM_KEY.length)}`)
    expect(await line(id)).toMatchObject({ status: Number(status), outcome: 'error', error: `upstream_${status}` })
  })

  it.each(['400', '503'])('%s in a coding that does not decode: not relayed; the gateway answers its own error with that status', async (status) => {
    const r = await ask(`err-${status}-zstd`, `zk-${status}-zstd`, {}, 'gzip', 'zk')
    expect(r.status).toBe(Number(status))
    expect(r.body.toString()).not.toContain(UPSTREAM_KEY)
    expect(JSON.parse(r.body.toString()).error).toMatchObject({ code: 'upstream_error' })
  })
})

describe('a compressed answer is decoded on the way', () => {
  it.each(['gzip', 'deflate', 'deflate-raw', 'br'])('%s stream: identity to the client, usage read, the usage event it did not ask for removed', async (coding) => {
    const r = await ask('stream', `z-${coding}`, { stream: true }, coding)
    expect(r.status).toBe(200)
    expect(r.headers['content-encoding']).toBeUndefined()
    expect(r.headers['content-length']).toBeUndefined()
    expect(r.body.toString()).toBe(CONTENT + DONE)
    expect(await line(`z-${coding}`)).toMatchObject({ outcome: 'ok', prompt_tokens: 5, completion_tokens: 7, usage_estimated: false })
  })

  it('the usage event a client asked for stays', async () => {
    const r = await ask('stream', 'z-asked', { stream: true, stream_options: { include_usage: true } })
    expect(r.body.toString()).toBe(CONTENT + USAGE_EVENT + DONE)
  })

  it('a gzip JSON answer: identity, its content-length (of the compressed bytes) dropped, usage read', async () => {
    const r = await ask('json', 'z-json', {})
    expect(r.status).toBe(200)
    expect(r.headers['content-encoding']).toBeUndefined()
    expect(r.headers['content-length'] === undefined || Number(r.headers['content-length']) === Buffer.byteLength(ANSWER)).toBe(true)
    expect(r.body.toString()).toBe(ANSWER)
    expect(await line('z-json')).toMatchObject({ outcome: 'ok', prompt_tokens: 5, completion_tokens: 7, usage_estimated: false })
  })
})

describe('a compressed body that does not decode', () => {
  it.each(['corrupt', 'truncated'])('%s: the events decoded so far, then the error event; recorded as broken', async (mode) => {
    const r = await ask(mode, `z-${mode}`)
    const text = r.body.toString()
    expect(text.startsWith(CONTENT)).toBe(true)
    const last = JSON.parse(text.slice(CONTENT.length).replace(/^data: /, '')) as { error: { code: string } }
    expect(last.error.code).toBe('upstream_stream_error')
    expect(await line(`z-${mode}`)).toMatchObject({ outcome: 'error', error: 'upstream_stream_error' })
  })
})

describe('a coding the gateway cannot decode', () => {
  it('passes through untouched, its content-encoding kept; usage is estimated', async () => {
    const r = await ask('unknown', 'z-unknown')
    expect(r.headers['content-encoding']).toBe('zstd')
    expect(r.body.toString()).toBe('not really zstd: passed as it came')
    expect(await line('z-unknown')).toMatchObject({ usage_estimated: true })
  })
})

describe('a compressed stream and a slow client', () => {
  async function rssKb(pid: number): Promise<number> {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    return Number(/VmRSS:\s+(\d+)/.exec(status)![1])
  }

  it('stalls the upstream instead of decoding ahead (memory stays flat); a client that leaves cancels it', { timeout: 30_000 }, async () => {
    const pid = gw.proc.pid!
    const before = await rssKb(pid)
    let received = 0
    const req = request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mode': 'flood' } })
    const stalled = new Promise<void>((resolve) => {
      req.on('response', (res) => {
        res.on('data', (d: Buffer) => {
          received += d.length
          // One chunk, then no more reading: the client's TCP window fills.
          res.pause()
          setTimeout(resolve, 3000)
        })
      })
    })
    req.end(JSON.stringify({ model: 'z', stream: true, messages: [{ role: 'user', content: 'q' }] }))
    try {
      await stalled
      // The socket buffers between upstream and gateway take a few seconds to fill (TCP grows
      // them); then the upstream is blocked: no progress for a second while the client does
      // not read, and long before the end of the flood.
      let at = -1
      await eventually(async () => {
        const same = flood.written === at
        at = flood.written
        if (!same) await new Promise((r) => setTimeout(r, 1000))
        return same
      }, 15_000)
      expect(flood.written).toBeLessThan(FLOOD_WRITES)
      expect((await rssKb(pid)) - before).toBeLessThan(40 * 1024)
      expect(received).toBeLessThan(10 * 1024 * 1024)
    } finally {
      req.destroy()
    }
    await eventually(() => flood.closedEarly, 2000)
  })
})
