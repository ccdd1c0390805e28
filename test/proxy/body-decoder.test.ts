// Which Content-Encoding values the gateway decodes, and the decoder's edges.
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { BodyDecoder, codingOf, type DecoderSink } from '../../src/proxy/body-decoder.js'

describe('codingOf', () => {
  it('names the codings node:zlib decodes, identity as none, anything else as unreadable', () => {
    expect(codingOf('gzip')).toBe('gzip')
    expect(codingOf(' X-GZIP ')).toBe('gzip')
    expect(codingOf('deflate')).toBe('deflate')
    expect(codingOf('br')).toBe('br')
    expect(codingOf(['br'])).toBe('br')
    expect(codingOf('identity')).toBeUndefined()
    expect(codingOf('')).toBeUndefined()
    expect(codingOf('zstd')).toBeNull()
    // Stacked codings: not decoded (passed through untouched).
    expect(codingOf('deflate, gzip')).toBeNull()
    expect(codingOf(['gzip', 'br'])).toBeNull()
  })
})

function sink(): DecoderSink & { out: Buffer[]; ended: boolean; error: Error | undefined } {
  return {
    out: [],
    ended: false,
    error: undefined,
    onDecoded(c) {
      this.out.push(c)
    },
    onDecodedEnd() {
      this.ended = true
    },
    onDecodeError(e) {
      this.error = e
    },
    onDecoderDrain() {},
  }
}

describe('BodyDecoder', () => {
  it('an empty body ends at once (nothing to decode is not a truncated stream)', () => {
    const s = sink()
    new BodyDecoder('gzip', s).end()
    expect(s.ended).toBe(true)
  })

  it('decodes across writes, and reports a truncated body as an error', async () => {
    const bytes = gzipSync('data: hello\n\n')
    const whole = sink()
    const d = new BodyDecoder('gzip', whole)
    d.write(bytes.subarray(0, 5))
    d.write(bytes.subarray(5))
    d.end()
    await new Promise((r) => setTimeout(r, 50))
    expect(Buffer.concat(whole.out).toString()).toBe('data: hello\n\n')
    expect(whole.ended).toBe(true)
    const cut = sink()
    const t = new BodyDecoder('gzip', cut)
    t.write(bytes.subarray(0, bytes.length - 4))
    t.end()
    await new Promise((r) => setTimeout(r, 50))
    expect(cut.error).toBeInstanceOf(Error)
    expect(cut.ended).toBe(false)
  })
})
