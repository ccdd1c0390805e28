// The per-address connection cap (src/server/connection-guard.ts), with stand-in sockets: the
// tests' traffic stays on 127.0.0.1, so IPv6 clients in one /64 cannot be made for real.
import { EventEmitter } from 'node:events'
import type { Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { ConnectionGuard } from '../../src/server/connection-guard.js'

class FakeSocket extends EventEmitter {
  destroyed = false
  constructor(readonly remoteAddress: string) {
    super()
  }
  destroy(): void {
    this.destroyed = true
    this.emit('close')
  }
}

function connect(guard: ConnectionGuard, ip: string): FakeSocket {
  const s = new FakeSocket(ip)
  guard.onConnection(s as unknown as Socket)
  return s
}

describe('ConnectionGuard', () => {
  it('counts IPv6 clients by their network, IPv4 ones by address', () => {
    const guard = new ConnectionGuard(2, () => false, 64)
    expect(connect(guard, '2001:db8:1:2::a').destroyed).toBe(false)
    expect(connect(guard, '2001:db8:1:2:ffff::b').destroyed).toBe(false)
    // A third address of the same /64 is the same client, over its cap.
    expect(connect(guard, '2001:db8:1:2::c').destroyed).toBe(true)
    expect(connect(guard, '2001:db8:1:3::a').destroyed).toBe(false)
    expect(connect(guard, '203.0.113.7').destroyed).toBe(false)
    expect(connect(guard, '203.0.113.7').destroyed).toBe(false)
    expect(connect(guard, '203.0.113.8').destroyed).toBe(false)
  })

  it('frees a slot when a connection closes, and counts each address alone at /128', () => {
    const guard = new ConnectionGuard(1, () => false, 64)
    const first = connect(guard, '2001:db8::1')
    expect(connect(guard, '2001:db8::2').destroyed).toBe(true)
    first.emit('close')
    expect(connect(guard, '2001:db8::2').destroyed).toBe(false)
    guard.update(1, () => false, 128)
    expect(connect(guard, '2001:db8:0:0:1::5').destroyed).toBe(false)
  })

  it('exempts trusted proxies by their own address', () => {
    const guard = new ConnectionGuard(1, (ip) => ip === '2001:db8::100', 64)
    expect(connect(guard, '2001:db8::100').destroyed).toBe(false)
    expect(connect(guard, '2001:db8::100').destroyed).toBe(false)
    // Its connections are not counted against its /64 neighbours.
    expect(connect(guard, '2001:db8::5').destroyed).toBe(false)
    expect(connect(guard, '2001:db8::6').destroyed).toBe(true)
  })
})
