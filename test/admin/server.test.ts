// The admin server's own checks: a weak token is warned about, at start and on a reload.
import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { AdminServer } from '../../src/admin/server.js'
import { createLogger } from '../../src/observability/logger.js'

function capture(): { lines: string[]; stream: Writable } {
  const lines: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString())
      done()
    },
  })
  return { lines, stream }
}

describe('admin token', () => {
  it('a token shorter than 16 characters draws a warning (never the token), at start and when a reload sets one', () => {
    const { lines, stream } = capture()
    const log = createLogger({ stream, level: 'info' })
    const admin = new AdminServer({ host: '127.0.0.1', port: 0, token: 'short-tok', log })
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain('admin.token is shorter than 16 characters')
    expect(lines[0]).not.toContain('short-tok')
    admin.setToken('a-long-enough-admin-token-0123456789')
    admin.setToken(undefined)
    expect(lines).toHaveLength(1)
    admin.setToken('x')
    expect(lines).toHaveLength(2)
  })
})
