// SSE framing in the response tap: events are found however the reads cut them (terminators
// included), and when the gateway strips the usage event it asked for, everything else the
// upstream sent reaches the client byte for byte, as soon as each event is complete.
import { describe, expect, it } from 'vitest'
import { eventData, lastEventEnd, splitEvents } from '../../src/proxy/sse.js'
import { SseUsageTap } from '../../src/proxy/usage-tap.js'

const content = (text: string) => `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":${JSON.stringify(text)}}}]}`
const USAGE = 'data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}'
const TERMINATORS = { LF: '\n\n', CRLF: '\r\n\r\n', CR: '\r\r' }

/** Feeds the pieces one by one; returns what the tap sent on after each, and at the end. */
function feed(tap: SseUsageTap, pieces: readonly Buffer[]): { after: string[]; end: string } {
  let sent = ''
  const after: string[] = []
  for (const p of pieces) {
    sent += tap.chunk(p)?.toString() ?? ''
    after.push(sent)
  }
  return { after, end: sent + (tap.end()?.toString() ?? '') }
}

describe('event terminators', () => {
  it('lastEventEnd finds LF, CRLF and CR blank lines, and none in a single line ending', () => {
    expect(lastEventEnd(Buffer.from('data: a\n\ndata: b\n'))).toBe(9)
    expect(lastEventEnd(Buffer.from('data: a\r\n\r\ndata: b\r\n'))).toBe(11)
    expect(lastEventEnd(Buffer.from('data: a\r\rdata: b\r'))).toBe(9)
    expect(lastEventEnd(Buffer.from('data: a\n\r\n'))).toBe(10)
    expect(lastEventEnd(Buffer.from('data: a\r\n'))).toBe(-1)
  })

  it('lastEventEnd joins a terminator split across reads (the bytes before the chunk given)', () => {
    const LF = 0x0a
    const CR = 0x0d
    const x = 0x78
    expect(lastEventEnd(Buffer.from('\n'), 0, LF, x)).toBe(1)
    expect(lastEventEnd(Buffer.from('\r\n'), 0, LF, CR)).toBe(2)
    expect(lastEventEnd(Buffer.from('\n\r\n'), 0, CR, x)).toBe(3)
    expect(lastEventEnd(Buffer.from('\r'), 0, CR, x)).toBe(1)
    expect(lastEventEnd(Buffer.from('\n'), 0, CR, x)).toBe(-1)
  })

  it('splitEvents cuts at every kind of blank line', () => {
    const all = 'data: a\n\ndata: b\r\n\r\ndata: c\r\rdata: d\n\r\n'
    expect(splitEvents(Buffer.from(all)).map(String)).toEqual(['data: a\n\n', 'data: b\r\n\r\n', 'data: c\r\r', 'data: d\n\r\n'])
  })

  it('eventData joins data lines whatever their line endings', () => {
    expect(eventData(Buffer.from('data: a\rdata:b\r\r'))).toBe('a\nb')
    expect(eventData(Buffer.from('data: a\r\ndata: b\n\n'))).toBe('a\nb')
  })
})

describe('SseUsageTap stripping the usage event', () => {
  for (const [name, t] of Object.entries(TERMINATORS)) {
    const first = content('first') + t
    const stream = first + USAGE + t + content('second') + t + 'data: [DONE]' + t

    it(`sends an event on as soon as its ${name} terminator is complete, however the reads split it`, () => {
      // Every cut inside the first event's terminator (and the bytes one at a time).
      for (let cut = first.length - t.length; cut < first.length; cut++) {
        const tap = new SseUsageTap(true)
        const { after } = feed(tap, [Buffer.from(first.slice(0, cut)), Buffer.from(first.slice(cut))])
        expect(after[1]).toBe(first)
      }
      const tap = new SseUsageTap(true)
      const { after } = feed(tap, [...first].map((c) => Buffer.from(c)))
      expect(after[first.length - 1]).toBe(first)
    })

    it(`removes exactly the usage event (${name}), however the stream is cut into reads`, () => {
      const expected = stream.replace(USAGE + t, '')
      const bytes = Buffer.from(stream)
      for (const size of [1, 2, 3, 5, 7, bytes.length]) {
        const pieces: Buffer[] = []
        for (let i = 0; i < bytes.length; i += size) pieces.push(bytes.subarray(i, i + size))
        const tap = new SseUsageTap(true)
        expect(feed(tap, pieces).end).toBe(expected)
        expect(tap.usage).toEqual({ prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 })
        expect(tap.countedTokens).toBe(2)
      }
    })
  }
})

describe('an event larger than the tap holds (1 MiB)', () => {
  const huge = content('Z'.repeat(1_500_000)) + '\n\n'
  const stream = content('start') + '\n\n' + huge + content('end') + '\n\n' + USAGE + '\n\n' + 'data: [DONE]\n\n'
  const bytes = Buffer.from(stream)
  const cut = (size: number) => {
    const pieces: Buffer[] = []
    for (let i = 0; i < bytes.length; i += size) pieces.push(bytes.subarray(i, i + size))
    return pieces
  }

  it('reaches the client whole when the usage event is stripped, and is forwarded as it comes past the bound', () => {
    for (const size of [65_536, 7_777, 1_100_000, bytes.length]) {
      const tap = new SseUsageTap(true)
      const pieces = cut(size)
      const { after, end } = feed(tap, pieces)
      expect(end).toBe(stream.replace(USAGE + '\n\n', ''))
      expect(tap.usage).toEqual({ prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 })
      expect(tap.countedTokens).toBe(3)
      // Never more than the bound (and the chunk that crossed it) held back.
      let pushed = 0
      for (let i = 0; i < pieces.length; i++) {
        pushed += pieces[i]!.length
        expect(pushed - after[i]!.length).toBeLessThanOrEqual((1 << 20) + size)
      }
    }
  })

  it('passes through untouched when nothing is stripped, with usage and tokens still read', () => {
    for (const size of [65_536, bytes.length]) {
      const tap = new SseUsageTap(false)
      expect(feed(tap, cut(size)).end).toBe(stream)
      expect(tap.usage).toEqual({ prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 })
      expect(tap.countedTokens).toBe(3)
    }
  })

  it('ends at its own terminator, however it is split, and the events after it are read again', () => {
    for (const t of Object.values(TERMINATORS)) {
      const s = content('Z'.repeat(1_200_000)) + t + USAGE + t + content('after') + t
      const b = Buffer.from(s)
      const tap = new SseUsageTap(true)
      // Cut inside the big event's terminator.
      const at = s.indexOf(t) + 1
      expect(feed(tap, [b.subarray(0, at), b.subarray(at)]).end).toBe(s.replace(USAGE + t, ''))
      expect(tap.usage?.total_tokens).toBe(7)
    }
  })
})
