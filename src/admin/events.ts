// SSE feed for the dashboard (GET /admin/events): a full `snapshot` event on connect, then
// a `delta` event every second with what changed since the last one sent to that client.
// One timer serves every client and runs only while some client is connected.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { DashboardState, FeedCursor } from './dashboard-state.js'

export interface EventFeedOptions {
  /** Builds the state; with a cursor, only what changed after it. */
  readonly state: (cursor?: FeedCursor) => DashboardState
  /** Push period, ms. Defaults to 1000. */
  readonly intervalMs?: number
  /** Streams open at once; more are refused with 503. Defaults to 16. */
  readonly maxClients?: number
  /** A client whose unsent backlog passes this many bytes is dropped. Defaults to 1 MiB. */
  readonly maxBacklog?: number
}

interface Client {
  readonly res: ServerResponse
  cursor: FeedCursor
}

export class EventFeed {
  private readonly clients = new Set<Client>()
  private timer: NodeJS.Timeout | undefined
  private readonly intervalMs: number
  private readonly maxClients: number
  private readonly maxBacklog: number

  constructor(private readonly options: EventFeedOptions) {
    this.intervalMs = options.intervalMs ?? 1000
    this.maxClients = options.maxClients ?? 16
    this.maxBacklog = options.maxBacklog ?? 1 << 20
  }

  get size(): number {
    return this.clients.size
  }

  /** Has room for one more stream? */
  get full(): boolean {
    return this.clients.size >= this.maxClients
  }

  /** Turns the response into an event stream and sends the first snapshot. */
  attach(req: IncomingMessage, res: ServerResponse): void {
    const state = this.options.state()
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    })
    req.socket.setNoDelay(true)
    // The admin server's request timeout must not cut a stream that is meant to stay open.
    req.socket.setTimeout(0)
    const client: Client = { res, cursor: { at: state.now, recentSeq: state.recent_seq } }
    res.write(`retry: 2000\nevent: snapshot\ndata: ${JSON.stringify(state)}\n\n`)
    if (res.destroyed) return // the client left already: 'close' will not come again
    this.clients.add(client)
    res.on('close', () => this.detach(client))
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.intervalMs)
      this.timer.unref()
    }
  }

  /** Sends each client its delta; a client that is not reading is skipped, then dropped. */
  tick(): void {
    for (const c of this.clients) {
      if (c.res.writableNeedDrain) {
        if (c.res.writableLength > this.maxBacklog) c.res.destroy()
        continue
      }
      try {
        const state = this.options.state(c.cursor)
        c.cursor = { at: state.now, recentSeq: state.recent_seq }
        c.res.write(`event: delta\ndata: ${JSON.stringify(state)}\n\n`)
      } catch {
        // A timer callback must not throw (it would take the process down): drop this
        // stream instead; the page reconnects and starts from a fresh snapshot.
        c.res.destroy()
      }
    }
  }

  /** Ends every stream (the gateway is stopping). */
  close(): void {
    for (const c of this.clients) c.res.end()
    this.clients.clear()
    this.stopTimer()
  }

  private detach(client: Client): void {
    this.clients.delete(client)
    if (this.clients.size === 0) this.stopTimer()
  }

  private stopTimer(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }
}
