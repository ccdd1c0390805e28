// Open connections per client address, counted at accept: over the limit, a new connection
// is closed before any byte is read (before a TLS handshake is spent on it). Trusted proxies
// carry many clients' connections and are exempt. The overall cap is Node's maxConnections.
import type { Socket } from 'node:net'
import { normalizeIp } from './client-ip.js'

export class ConnectionGuard {
  private readonly open = new Map<string, number>()

  constructor(
    private limit: number,
    private exempt: (ip: string) => boolean
  ) {}

  /** Takes effect for connections accepted from now on. 0 = no limit. */
  update(limit: number, exempt: (ip: string) => boolean): void {
    this.limit = limit
    this.exempt = exempt
  }

  /** The 'connection' listener: counts the socket, or destroys it when its address is over the limit. */
  readonly onConnection = (socket: Socket): void => {
    const ip = normalizeIp(socket.remoteAddress ?? '')
    const n = (this.open.get(ip) ?? 0) + 1
    if (this.limit > 0 && n > this.limit && !this.exempt(ip)) {
      socket.destroy()
      return
    }
    this.open.set(ip, n)
    socket.once('close', () => this.release(ip))
  }

  private release(ip: string): void {
    const n = (this.open.get(ip) ?? 1) - 1
    if (n <= 0) this.open.delete(ip)
    else this.open.set(ip, n)
  }
}
