// Open connections per client address, counted at accept: over the limit, a new connection
// is closed before any byte is read (before a TLS handshake is spent on it). Trusted proxies
// carry many clients' connections and are exempt. An IPv6 client counts by its network
// (server.client_ipv6_prefix), as per-IP rate limits do. The overall cap is Node's maxConnections.
import type { Socket } from 'node:net'
import { clientGroup, normalizeIp } from './client-ip.js'

export class ConnectionGuard {
  private readonly open = new Map<string, number>()

  constructor(
    private limit: number,
    private exempt: (ip: string) => boolean,
    private ipv6Prefix = 128
  ) {}

  /** Takes effect for connections accepted from now on. 0 = no limit. */
  update(limit: number, exempt: (ip: string) => boolean, ipv6Prefix = 128): void {
    this.limit = limit
    this.exempt = exempt
    this.ipv6Prefix = ipv6Prefix
  }

  /** The 'connection' listener: counts the socket, or destroys it when its address is over the limit. */
  readonly onConnection = (socket: Socket): void => {
    if (this.limit === 0) return
    const address = normalizeIp(socket.remoteAddress ?? '')
    // Exempt connections are not counted: a proxy's would fill its IPv6 neighbours' quota.
    if (this.exempt(address)) return
    const client = clientGroup(address, this.ipv6Prefix)
    const n = (this.open.get(client) ?? 0) + 1
    if (n > this.limit) {
      socket.destroy()
      return
    }
    this.open.set(client, n)
    socket.once('close', () => this.release(client))
  }

  private release(ip: string): void {
    const n = (this.open.get(ip) ?? 1) - 1
    if (n <= 0) this.open.delete(ip)
    else this.open.set(ip, n)
  }
}
