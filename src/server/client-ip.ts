// Trusted proxies: X-Forwarded-For is believed only when the peer is one of them. The client
// is the right-most address that is not a trusted proxy (everything left of it could have
// been written by the client itself), and the chain sent upstream (its addresses only)
// appends the peer. A trusted
// peer's X-Forwarded-Proto (TLS ended at a load balancer) is passed on; anyone else's is not.
import { BlockList, isIP } from 'node:net'
import { parseCidr } from '../config/edge.js'
import type { RequestContext } from './context.js'

/**
 * IPv4-mapped IPv6 → the IPv4 address, in any of its spellings (`::ffff:10.6.6.8`,
 * `::ffff:a06:608`, `::FFFF:10.6.6.8`, `0:0:0:0:0:ffff:…`: proxies write all of them), so
 * one client is one address in per-client limits and logs; anything else unchanged.
 */
export function normalizeIp(ip: string): string {
  if (ip.length > 7 && ip.startsWith('::ffff:') && ip.includes('.')) return ip.slice(7)
  if (ip.indexOf(':') === -1 || !/ffff/i.test(ip)) return ip
  const g = ipv6Groups(ip)
  if (g === undefined || g[0] !== 0 || g[1] !== 0 || g[2] !== 0 || g[3] !== 0 || g[4] !== 0 || g[5] !== 0xffff) return ip
  return `${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.${g[7]! & 0xff}`
}

/** `fe80::1%eth0` → `fe80::1`: a zone names an interface of the host that wrote it, not the client. */
function withoutZone(ip: string): string {
  const pct = ip.indexOf('%')
  return pct === -1 ? ip : ip.slice(0, pct)
}

/**
 * One X-Forwarded-For entry → a bare address, or undefined when it is not one. Some proxies
 * add a port (`203.0.113.7:4711`, `[2001:db8::1]:443`) or an IPv6 zone (`fe80::1%eth0`);
 * both are dropped, so one client is one address (per-address limits, the access log).
 */
export function forwardedAddress(entry: string): string | undefined {
  const e = entry.trim()
  if (isIP(e) !== 0) return normalizeIp(withoutZone(e))
  const bracketed = /^\[([0-9A-Fa-f:.]+)(?:%[^\]]+)?\](?::\d{1,5})?$/.exec(e)
  if (bracketed !== null) return isIP(bracketed[1]!) === 6 ? normalizeIp(bracketed[1]!) : undefined
  const v4port = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(e)
  if (v4port !== null && isIP(v4port[1]!) === 4) return v4port[1]
  return undefined
}

/**
 * The protocol an X-Forwarded-Proto names: its first entry (the hop nearest the client) when
 * that is http or https; undefined for anything else.
 */
export function forwardedProto(header: string | string[] | undefined): 'http' | 'https' | undefined {
  const value = Array.isArray(header) ? header[0] : header
  if (value === undefined) return undefined
  const comma = value.indexOf(',')
  const first = (comma === -1 ? value : value.slice(0, comma)).trim().toLowerCase()
  return first === 'https' || first === 'http' ? first : undefined
}

export class TrustedProxies {
  private readonly list = new BlockList()

  constructor(cidrs: readonly string[]) {
    for (const text of cidrs) {
      const c = parseCidr(text)
      if (c === undefined) throw new TypeError(`not an address or CIDR block: ${text}`)
      this.list.addSubnet(c.address, c.prefix, c.family)
    }
  }

  trusts(ip: string): boolean {
    const v = isIP(ip)
    return v !== 0 && this.list.check(ip, v === 4 ? 'ipv4' : 'ipv6')
  }

  /** Sets `ctx.clientIp`, `ctx.forwardedFor` and `ctx.forwardedProto` from a trusted peer's headers. */
  resolve(ctx: RequestContext): void {
    const peer = ctx.clientIp
    if (!this.trusts(peer)) return // the peer is the client; whatever it claims is dropped
    const proto = forwardedProto(ctx.headers['x-forwarded-proto'])
    if (proto !== undefined) ctx.forwardedProto = proto
    const header = ctx.headers['x-forwarded-for']
    if (typeof header !== 'string' || header.trim() === '') return
    const hops = header.split(',')
    // The chain sent upstream: the addresses it held (ports, zones and garbage left out, so an
    // upstream that parses it reads addresses only), then the peer.
    let chain = ''
    for (const hop of hops) {
      const ip = forwardedAddress(hop)
      if (ip !== undefined) chain += `${ip}, `
    }
    ctx.forwardedFor = chain + peer
    let client = peer
    for (let i = hops.length - 1; i >= 0; i--) {
      const ip = forwardedAddress(hops[i]!)
      // Garbage in the chain: the last trusted hop is the best we know.
      if (ip === undefined) break
      client = ip
      if (!this.trusts(ip)) break
    }
    ctx.clientIp = client
  }
}

/**
 * The address per-client controls count `ip` under: an IPv4 address as it is; an IPv6 one by
 * its first `prefix` bits, written as a network (`2001:db8:0:1::/64`). One host or subscriber
 * is routinely given a whole /64 (often a /56) and can rotate through it at will, so a limit
 * per IPv6 address limits nothing. 128: every address on its own. Anything that does not
 * parse is returned unchanged.
 */
export function clientGroup(ip: string, prefix: number): string {
  if (prefix >= 128 || ip.indexOf(':') === -1) return ip
  const groups = ipv6Groups(ip)
  if (groups === undefined) return ip
  for (let i = 0; i < 8; i++) {
    const bits = Math.min(16, Math.max(0, prefix - 16 * i))
    groups[i] = groups[i]! & ((0xffff << (16 - bits)) & 0xffff)
  }
  return `${formatIpv6(groups)}/${prefix}`
}

/** An IPv6 address's eight 16-bit groups (`::` expanded, an IPv4 tail read), or undefined. */
function ipv6Groups(ip: string): number[] | undefined {
  let head = ip
  const tail: number[] = []
  const last = ip.lastIndexOf(':')
  if (ip.indexOf('.', last) !== -1) {
    const octets = ip.slice(last + 1).split('.')
    if (octets.length !== 4) return undefined
    const n = octets.map((o) => (/^\d{1,3}$/.test(o) ? Number(o) : 256))
    if (n.some((o) => o > 255)) return undefined
    tail.push((n[0]! << 8) | n[1]!, (n[2]! << 8) | n[3]!)
    // Keep a "::" before the IPv4 part; drop a single ":".
    head = ip.slice(0, last + 1)
    if (!head.endsWith('::')) head = head.slice(0, -1)
  }
  const halves = head.split('::')
  if (halves.length > 2) return undefined
  const part = (s: string | undefined): string[] => (s === undefined || s === '' ? [] : s.split(':'))
  const left = part(halves[0])
  const right = part(halves[1])
  const missing = 8 - left.length - right.length - tail.length
  if (halves.length === 1 ? missing !== 0 : missing < 0) return undefined
  const groups: number[] = []
  for (const g of [...left, ...Array<string>(missing).fill('0'), ...right]) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined
    groups.push(parseInt(g, 16))
  }
  groups.push(...tail)
  return groups.length === 8 ? groups : undefined
}

/** Eight groups as RFC 5952 text: lowercase, the longest run of two or more zero groups as "::". */
function formatIpv6(groups: readonly number[]): string {
  let bestAt = -1
  let bestLength = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) {
      bestAt = i
      bestLength = j - i
    }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestAt === -1) return hex.join(':')
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLength).join(':')}`
}
