import { describe, expect, it } from 'vitest'
import { NUMBER_BYTES, putMs, putNumber, putString, stringBytes } from '../../src/observability/json-bytes.js'

/** What a put function writes, as text, checked against the room it promised to need. */
function written(put: (buf: Buffer, p: number) => number, most: number): string {
  const buf = Buffer.alloc(most + 16, 0x2a)
  const end = put(buf, 8)
  expect(end - 8).toBeLessThanOrEqual(most)
  // Nothing before or after its own bytes is touched.
  expect(buf.subarray(0, 8).every((b) => b === 0x2a)).toBe(true)
  expect(buf.subarray(end).every((b) => b === 0x2a)).toBe(true)
  return buf.toString('utf8', 8, end)
}

describe('json-bytes', () => {
  it('writes strings exactly as JSON.stringify does, within the room it reserves', () => {
    const samples = [
      '',
      'chat-small',
      '127.0.0.1',
      '/v1/chat/completions',
      'a "quoted" \\ back\\slash',
      'tab\tnew\nline\r\u0000\u001f\u007f',
      'café é ü ß',
      '日本語のモデル',
      '😀 emoji 🚀',
      'lone \ud800 high and \udc00 low surrogates',
      '\u2028\u2029',
      'x'.repeat(300),
      '"'.repeat(50),
      '\u0001'.repeat(50),
    ]
    for (const s of samples) expect(written((b, p) => putString(b, p, s), stringBytes(s))).toBe(JSON.stringify(s))
    expect(written((b, p) => putString(b, p, null), stringBytes(null))).toBe('null')
    expect(written((b, p) => putString(b, p, undefined), stringBytes(undefined))).toBe('null')
  })

  it('writes every one of the first 64K code units as JSON.stringify does', () => {
    for (let c = 0; c < 0x10000; c++) {
      const s = `a${String.fromCharCode(c)}b`
      const out = written((b, p) => putString(b, p, s), stringBytes(s))
      if (out !== JSON.stringify(s)) expect(`${c}: ${out}`).toBe(`${c}: ${JSON.stringify(s)}`)
    }
  })

  it('writes numbers as JSON.stringify does, null for what JSON cannot hold', () => {
    const samples = [0, -0, 1, 9, 10, 99, 100, 200, 499, 65535, 123456789, 2 ** 31, 2 ** 53 - 1, 2 ** 53, 1e21, -1, -12.5, 0.1, 1e-7, 3.14159, Number.MAX_VALUE, Number.MIN_VALUE, -Number.MAX_VALUE]
    for (const n of samples) expect(written((b, p) => putNumber(b, p, n), NUMBER_BYTES)).toBe(JSON.stringify(n))
    for (const n of [Number.NaN, Infinity, -Infinity, null, undefined]) expect(written((b, p) => putNumber(b, p, n), NUMBER_BYTES)).toBe('null')
  })

  it('rounds milliseconds to two decimals as String(Math.round(ms * 100) / 100) does', () => {
    const samples = [0, -0, 0.004, 0.005, 0.01, 0.1, 0.105, 1, 1.5, 2.25, 12.345, 99.999, 100.01, 1234.56789, 59_999.995, 3_600_000.12, 1e12 + 0.37, 1e14, 1e16, 1e22, -3.456]
    let seed = 42
    for (let i = 0; i < 20_000; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      samples.push((seed / 2 ** 31) * 10 ** (i % 9))
    }
    for (const ms of samples) expect(written((b, p) => putMs(b, p, ms), NUMBER_BYTES)).toBe(String(Math.round(ms * 100) / 100))
  })
})
