// bench:profile's reading of perf script output: samples of the chosen processes only, each
// in the first category a frame matches from the leaf up, and by innermost JavaScript function.
import { describe, expect, it } from 'vitest'
import { REST, SampleTally, shortName } from '../../bench/perf-samples.js'

// Three samples of pid 100, one of pid 200, one of another process (300), as perf prints them.
const SCRIPT = `100 
\t         1c1 RegExp:^[\\^_\`a-zA-Z\\-0-9!#$%&'*+.|~]+$
\t         2f3 Builtins_RegExpPrototypeTestFast
\t         67e JS:*processHeader node:_http_outgoing:546:23
\t         59a JS:*clientResponseHeaders file:///srv/sy/dist/src/proxy/headers.js:84:38
\t         7d6 JS:*commit file:///srv/sy/dist/src/proxy/exchange.js:235:11

100 
\t         443 JS:*take file:///srv/sy/dist/src/limits/local-admission.js:56:14
\t         272 JS:*admit file:///srv/sy/dist/src/limits/rate-limiter.js:40:10

100 
\t         103 v8::internal::Heap::Scavenge
\t         443 JS:*ticketFor file:///srv/sy/dist/src/limits/rate-limiter.js:89:14

200 
\t      ffff81 tcp_sendmsg_locked
\t         f9d JS:*clearBuffer node:internal/streams/writable:744:21

300 
\t         443 JS:*take file:///srv/sy/dist/src/limits/local-admission.js:56:14

200 
\t         dc Builtin:JSEntryTrampoline
\t         5ca JS:*emitReadable_ node:internal/streams/readable:830:23
`

function tallied(pids: number[]): SampleTally {
  const t = new SampleTally(pids)
  for (const line of SCRIPT.split('\n')) t.line(line)
  t.end()
  return t
}

describe('SampleTally', () => {
  it('puts each sample in the first category a frame matches, leaf first', () => {
    const p = tallied([100, 200]).processes.get(100)!
    expect(p.total).toBe(3)
    // The header regexp runs inside Node's processHeader, called from our own header code.
    expect(p.byCategory.get('response head')).toBe(1)
    expect(p.byCategory.get('limits and budgets')).toBe(1)
    // A scavenge that the limiter's allocation set off is GC, not the limiter.
    expect(p.byCategory.get('garbage collection')).toBe(1)
    expect(p.byCategory.get(REST)).toBeUndefined()
  })

  it('keeps processes apart and skips the ones not asked for', () => {
    const t = tallied([100, 200])
    const other = t.processes.get(200)!
    expect(other.total).toBe(2)
    expect(other.byCategory.get('socket writes')).toBe(1)
    expect(other.byCategory.get(REST)).toBe(1)
    expect(t.processes.has(300)).toBe(false)
    expect(t.processes.get(100)!.byFunction.get('take src/limits/local-admission.js')).toBe(1)
  })

  it('names functions by the innermost JavaScript frame', () => {
    const p = tallied([100]).processes.get(100)!
    expect(p.byFunction.get('processHeader node:_http_outgoing')).toBe(1)
    expect(p.byFunction.get('ticketFor src/limits/rate-limiter.js')).toBe(1)
    expect([...p.byFunction.values()].reduce((a, b) => a + b, 0)).toBe(3)
  })
})

describe('shortName', () => {
  it('drops paths up to src/ or node_modules/ and the line and column', () => {
    expect(shortName('JS:*authenticate file:///work/main/dist/src/auth/authenticate.js:6:60')).toBe('authenticate src/auth/authenticate.js')
    expect(shortName('JS:*onHeaderValue /w/node_modules/undici/lib/dispatcher/client-h1.js:490:17')).toBe(
      'onHeaderValue node_modules/undici/lib/dispatcher/client-h1.js'
    )
    expect(shortName('JS:~ file:///w/dist/src/server/body.js:9:24')).toBe('(anonymous) src/server/body.js')
    expect(shortName('JS:wasm-function[20]-20-turbofan')).toBe('wasm-function[20]-20-turbofan')
  })
})
