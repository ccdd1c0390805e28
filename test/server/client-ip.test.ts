// Trusted proxies: who the client is, and the X-Forwarded-For chain sent upstream.
import { describe, expect, it } from 'vitest'
import { clientGroup, forwardedAddress, forwardedProto, normalizeIp, TrustedProxies } from '../../src/server/client-ip.js'
import type { RequestContext } from '../../src/server/context.js'

function resolve(trusted: string[], peer: string, xff?: string): { clientIp: string; forwardedFor: string } {
  const ctx = {
    clientIp: peer,
    forwardedFor: peer,
    headers: xff === undefined ? {} : { 'x-forwarded-for': xff },
  } as unknown as RequestContext
  new TrustedProxies(trusted).resolve(ctx)
  return { clientIp: ctx.clientIp, forwardedFor: ctx.forwardedFor }
}

describe('trusted proxies', () => {
  const trusted = ['10.0.0.0/8', '192.168.1.1', 'fd00::/8']

  it('ignores X-Forwarded-For from a peer that is not trusted', () => {
    expect(resolve(trusted, '203.0.113.5', '1.1.1.1')).toEqual({ clientIp: '203.0.113.5', forwardedFor: '203.0.113.5' })
  })

  it('takes the right-most address that is not a trusted proxy', () => {
    expect(resolve(trusted, '10.0.0.2', '198.51.100.1, 203.0.113.7, 10.9.9.9')).toEqual({
      clientIp: '203.0.113.7',
      forwardedFor: '198.51.100.1, 203.0.113.7, 10.9.9.9, 10.0.0.2',
    })
  })

  it('takes the left-most entry when every hop is trusted', () => {
    expect(resolve(trusted, '10.0.0.2', '192.168.1.1, 10.1.1.1').clientIp).toBe('192.168.1.1')
  })

  it('stops at garbage: the last trusted hop is the best it knows', () => {
    expect(resolve(trusted, '10.0.0.2', 'evil, 10.1.1.1').clientIp).toBe('10.1.1.1')
    expect(resolve(trusted, '10.0.0.2', 'unknown').clientIp).toBe('10.0.0.2')
    // Upstream, the chain holds addresses only: garbage, ports and zones are left out.
    expect(resolve(trusted, '10.0.0.2', '6.6.6.6, garbage, 203.0.113.7:4711, [fe80::1%25eth0]:443').forwardedFor).toBe('6.6.6.6, 203.0.113.7, fe80::1, 10.0.0.2')
    expect(resolve(trusted, '10.0.0.2', 'unknown').forwardedFor).toBe('10.0.0.2')
  })

  it('matches IPv6 blocks and IPv4-mapped peers', () => {
    expect(resolve(trusted, 'fd12::1', '2001:db8::7').clientIp).toBe('2001:db8::7')
    expect(resolve(trusted, '2001:db8::9', '1.2.3.4').clientIp).toBe('2001:db8::9')
    expect(new TrustedProxies(['10.0.0.0/8']).trusts('::ffff:10.1.2.3')).toBe(true)
  })

  it('reads entries with ports and brackets', () => {
    expect(forwardedAddress(' 203.0.113.7:4711 ')).toBe('203.0.113.7')
    expect(forwardedAddress('[2001:db8::1]:443')).toBe('2001:db8::1')
    expect(forwardedAddress('[2001:db8::1]')).toBe('2001:db8::1')
    expect(forwardedAddress('::ffff:1.2.3.4')).toBe('1.2.3.4')
    // Every spelling of an IPv4-mapped address is the IPv4 client (not one shared ::/64).
    for (const mapped of ['::ffff:a06:608', '::FFFF:10.6.6.8', '::ffff:0a06:0608', '0:0:0:0:0:ffff:10.6.6.8', '[::ffff:a06:608]:443']) {
      expect(forwardedAddress(mapped), mapped).toBe('10.6.6.8')
    }
    expect(normalizeIp('2001:db8::ffff:a06:608')).toBe('2001:db8::ffff:a06:608')
    expect(normalizeIp('::ffff')).toBe('::ffff')
    expect(forwardedAddress('999.1.1.1')).toBeUndefined()
    expect(forwardedAddress('_hidden')).toBeUndefined()
    // IPv6 zones are dropped: the client is its address, whatever interface reached it.
    expect(forwardedAddress('fe80::1%eth0')).toBe('fe80::1')
    expect(forwardedAddress('[fe80::1%25eth0]:443')).toBe('fe80::1')
    expect(resolve(trusted, '10.0.0.2', 'fe80::7%eth1').clientIp).toBe('fe80::7')
    expect(normalizeIp('::ffff:127.0.0.1')).toBe('127.0.0.1')
    expect(normalizeIp('::1')).toBe('::1')
  })
})

describe('forwardedProto', () => {
  it('reads the first entry when it is http or https, in any case', () => {
    expect(forwardedProto('https')).toBe('https')
    expect(forwardedProto(' HTTP , https')).toBe('http')
    expect(forwardedProto(['https', 'http'])).toBe('https')
    expect(forwardedProto('wss')).toBeUndefined()
    expect(forwardedProto('')).toBeUndefined()
    expect(forwardedProto(undefined)).toBeUndefined()
  })
})

describe('clientGroup', () => {
  it('leaves IPv4 addresses, and IPv6 ones at /128, as they are', () => {
    expect(clientGroup('203.0.113.7', 64)).toBe('203.0.113.7')
    expect(clientGroup('2001:db8::1', 128)).toBe('2001:db8::1')
  })

  it('writes an IPv6 address as its network: masked, lowercase, the longest zero run as ::', () => {
    expect(clientGroup('2001:db8:1:2:3:4:5:6', 64)).toBe('2001:db8:1:2::/64')
    expect(clientGroup('2001:DB8::1', 64)).toBe('2001:db8::/64')
    expect(clientGroup('2001:db8:abcd:12ff::1', 56)).toBe('2001:db8:abcd:1200::/56')
    expect(clientGroup('2001:db8:abcd:12ff::1', 48)).toBe('2001:db8:abcd::/48')
    expect(clientGroup('::1', 64)).toBe('::/64')
    expect(clientGroup('1:0:0:1:0:0:0:1', 127)).toBe('1:0:0:1::/127')
    expect(clientGroup('1:2:3:4:5:6:7:8', 64)).toBe('1:2:3:4::/64')
    expect(clientGroup('1:2:3:4:5:6:7:ffff', 113)).toBe('1:2:3:4:5:6:7:8000/113')
  })

  it('reads an IPv4 tail', () => {
    expect(clientGroup('64:ff9b::192.0.2.33', 96)).toBe('64:ff9b::/96')
    expect(clientGroup('64:ff9b::192.0.2.33', 120)).toBe('64:ff9b::c000:200/120')
    expect(clientGroup('1:2:3:4:5:6:192.0.2.33', 112)).toBe('1:2:3:4:5:6:c000:0/112')
  })

  it('returns what does not parse unchanged', () => {
    for (const bad of ['1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3', 'fe80::1%eth0', '::1.2.3.400', '12345::1', 'garbage:']) {
      expect(clientGroup(bad, 64)).toBe(bad)
    }
  })
})
