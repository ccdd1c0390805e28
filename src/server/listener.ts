// The data-plane listener: node:http with edge timeouts, and a graceful close that lets
// in-flight requests finish (up to a deadline) before cutting what is left.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

const kBusy = Symbol('switchyard.busy')
type TrackedSocket = Socket & { [kBusy]?: number }

function onResponseClose(this: ServerResponse): void {
  const socket = this.req.socket as TrackedSocket
  socket[kBusy] = (socket[kBusy] ?? 1) - 1
}

export interface ListenerOptions {
  readonly host: string
  readonly port: number
  readonly keepAliveTimeout: number
  /** Time allowed to receive the request headers (slowloris guard). */
  readonly headersTimeout?: number
  /** Time allowed to receive the whole request (headers and body). */
  readonly requestTimeout?: number
  readonly maxHeaderSize?: number
}

export class Listener {
  readonly server: Server
  /** Every open client connection, so a drain can close the ones without a request. */
  private readonly sockets = new Set<TrackedSocket>()

  constructor(
    handler: (req: IncomingMessage, res: ServerResponse) => void,
    private readonly options: ListenerOptions
  ) {
    this.server = createServer(
      {
        keepAliveTimeout: options.keepAliveTimeout,
        headersTimeout: options.headersTimeout ?? 30_000,
        requestTimeout: options.requestTimeout ?? 300_000,
        maxHeaderSize: options.maxHeaderSize ?? 32 * 1024,
        noDelay: true,
      },
      function track(req: IncomingMessage, res: ServerResponse): void {
        const socket = req.socket as TrackedSocket
        socket[kBusy] = (socket[kBusy] ?? 0) + 1
        res.once('close', onResponseClose)
        handler(req, res)
      }
    )
    this.server.on('connection', (socket: TrackedSocket) => {
      this.sockets.add(socket)
      socket.once('close', () => this.sockets.delete(socket))
    })
  }

  /** Closes connections with no request in progress (idle keep-alive, or never used). */
  private closeIdle(): void {
    for (const socket of this.sockets) {
      if ((socket[kBusy] ?? 0) === 0) socket.destroy()
    }
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject)
        resolve(this.server.address() as AddressInfo)
      })
    })
  }

  /**
   * Stops accepting, closes connections as they go idle, and resolves when none is left
   * or `drainMs` has passed (then every remaining connection is cut).
   */
  close(drainMs: number): Promise<{ cut: boolean }> {
    const server = this.server
    return new Promise((resolve) => {
      let done = false
      const finish = (cut: boolean): void => {
        if (done) return
        done = true
        clearInterval(sweep)
        clearTimeout(deadline)
        resolve({ cut })
      }
      server.close(() => finish(false))
      // Keep-alive connections become idle as their last response ends: close them then.
      const sweep = setInterval(() => this.closeIdle(), 50)
      const deadline = setTimeout(() => {
        server.closeAllConnections()
        finish(true)
      }, drainMs)
      this.closeIdle()
    })
  }
}
