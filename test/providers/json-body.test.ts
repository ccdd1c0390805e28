// Bodies written again (a rename, the usage request, a filter's change) keep the client's
// numbers as written, and the usage request alone is spliced into the client's bytes.
import { describe, expect, it } from 'vitest'
import { lossyNumbers, serializeBody, withUsageRequest } from '../../src/providers/json-body.js'

describe('lossyNumbers', () => {
  it('finds the literals a double cannot hold, by JSON pointer', () => {
    const text = `{"seed": 9007199254740993, "n": 12, "t": 0.1000000000000000055511,
      "a/b~c": [1, {"x": -12345678901234567890}], "s": "9007199254740993 \\" 1e400",
      "schema": {"maximum": 1e400, "minimum": -1E+400, "safe": 9007199254740992, "e": 1e300}}`
    expect(lossyNumbers(text)).toEqual(
      new Map([
        ['/seed', '9007199254740993'],
        ['/a~1b~0c/1/x', '-12345678901234567890'],
        ['/schema/maximum', '1e400'],
        ['/schema/minimum', '-1E+400'],
      ])
    )
  })

  it('finds none in ordinary bodies; a repeated key keeps its last literal, as JSON.parse does', () => {
    expect(lossyNumbers('{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":16,"temperature":0.7}')).toBeUndefined()
    expect(lossyNumbers('[]')).toBeUndefined()
    expect(lossyNumbers('{"seed": 90071992547409931, "seed": 90071992547409933}')).toEqual(new Map([['/seed', '90071992547409933']]))
  })
})

describe('serializeBody', () => {
  const raw = (o: string): Buffer => Buffer.from(o)

  it('writes unchanged lossy numbers as the client wrote them, and changed ones anew', () => {
    const text = '{"model":"a","seed":9007199254740993,"max_tokens":100000000000000000001,"rf":{"s":{"maximum":1e400}},"ids":[12345678901234567890,1]}'
    const body = JSON.parse(text) as Record<string, unknown>
    body.model = 'b'
    body.max_tokens = 4096
    const out = serializeBody(body, raw(text))
    expect(out).toBe('{"model":"b","seed":9007199254740993,"max_tokens":4096,"rf":{"s":{"maximum":1e400}},"ids":[12345678901234567890,1]}')
  })

  it('writes -0 as 0, as JSON.stringify does (the same number to every reader that matters)', () => {
    const text = '{"a":-0,"b":12345678901234567890}'
    expect(serializeBody(JSON.parse(text) as Record<string, unknown>, raw(text))).toBe('{"a":0,"b":12345678901234567890}')
  })

  it('is JSON.stringify when nothing is lossy (digits in strings included)', () => {
    const text = '{"model":"a","messages":[{"role":"user","content":"card 4111111111111111, 2e999"}],"n":1,"t":1.0}'
    const body = { ...(JSON.parse(text) as Record<string, unknown>), stream_options: { include_usage: true }, gone: undefined }
    expect(serializeBody(body, raw(text))).toBe(JSON.stringify(body))
  })

  it('reads back as the parsed body for random documents', () => {
    let seed = 7
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed % n
    }
    const literal = (): string => ['1', '-7', '0.5', '1e3', '12345678901234567890', '9007199254740993', '1e400', '2E-400', '-1E+400', '"x"', 'true', 'null'][rand(11)]!
    const doc = (depth: number): string => {
      const kind = depth > 3 ? 2 : rand(3)
      if (kind === 0) return `{${Array.from({ length: rand(4) }, (_, i) => `"k${i}${['', '/', '~'][rand(3)]}" : ${doc(depth + 1)}`).join(' , ')}}`
      if (kind === 1) return `[ ${Array.from({ length: rand(4) }, () => doc(depth + 1)).join(',')} ]`
      return literal()
    }
    for (let i = 0; i < 300; i++) {
      const text = `{"m":${doc(0)}}`
      const parsed = JSON.parse(text) as Record<string, unknown>
      const out = serializeBody(parsed, raw(text))
      expect(JSON.parse(out)).toEqual(parsed)
      // Every lossy literal is kept, character for character.
      for (const lit of lossyNumbers(text)?.values() ?? []) expect(out).toContain(lit)
    }
  })
})

describe('withUsageRequest', () => {
  it("puts the usage request in as the first member, leaving the client's bytes as they are", () => {
    const text = ' \n{ "model":"m","stream":true,"seed":9007199254740993}'
    const out = withUsageRequest(Buffer.from(text))!.toString()
    expect(out).toBe(' \n{"stream_options":{"include_usage":true}, "model":"m","stream":true,"seed":9007199254740993}')
    expect(JSON.parse(out)).toEqual({ stream_options: { include_usage: true }, model: 'm', stream: true, seed: 9007199254740993 })
  })

  it('declines what is not a non-empty object', () => {
    expect(withUsageRequest(Buffer.from('{ }'))).toBeUndefined()
    expect(withUsageRequest(Buffer.from('[1]'))).toBeUndefined()
    expect(withUsageRequest(Buffer.from('   '))).toBeUndefined()
  })
})
