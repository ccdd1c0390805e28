// Trusted proxies: X-Forwarded-For is believed only when the peer is one of them. The client
// is the right-most address that is not a trusted proxy (everything left of it could have
// been written by the client itself), and the chain sent upstream (its addresses only)
// appends the peer. A trusted
// peer's X-Forwarded-Proto (TLS ended at a load balancer) is passed on; anyone else's is not.
import { BlockList, isIP } from 'node:net'
import { parseCidr } from '../config/edge.js'
import type { RequestContext } from './context.js'

/** IPv4-mapped IPv6 (`::ffff:10.0.0.1`) → the IPv4 address; anything else unchanged. */
export function normalizeIp(ip: string): string {
  return ip.length > 7 && ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip
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
