// EventFeed over real HTTP: snapshot then deltas, per-client cursors, failure isolation.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import type { DashboardState, FeedCursor } from '../../src/admin/dashboard-state.js'
import { EventFeed } from '../../src/admin/events.js'
import { SseReader } from '../helpers/sse.js'

let server: Server | undefined

afterEach(async () => {
  server?.closeAllConnections()
  await new Promise((r) => server?.close(r) ?? r(undefined))
  server = undefined
})

/** A minimal state: only the fields the feed reads, plus the cursor it was built for. */
function fakeState(now: number, seq: number, cursor?: FeedCursor): DashboardState {
  return { now, recent_seq: seq, cursor } as unknown as DashboardState
}

async function serve(feed: EventFeed): Promise<string> {
  server = createServer((req, res) => feed.attach(req, res))
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

describe('EventFeed', () => {
  it('sends a snapshot, then deltas built from where that client was', async () => {
    let n = 0
    const feed = new EventFeed({ state: (cursor) => fakeState(++n * 1000, n, cursor), intervalMs: 20 })
    const sse = new SseReader(await fetch(await serve(feed)))
    const first = await sse.next()
    expect(first?.event).toBe('snapshot')
    const snap = JSON.parse(first!.data) as { cursor?: FeedCursor; now: number }
    expect(snap.cursor).toBeUndefined()
    const d1 = JSON.parse((await sse.next())!.data) as { cursor: FeedCursor; now: number }
    expect(d1.cursor).toEqual({ at: snap.now, recentSeq: 1 })
    const d2 = JSON.parse((await sse.next())!.data) as { cursor: FeedCursor }
    expect(d2.cursor).toEqual({ at: d1.now, recentSeq: 2 })
    await sse.cancel()
    feed.close()
  })

  it('drops only the stream whose delta failed, and keeps running', async () => {
    let fail = false
    const feed = new EventFeed({
      state: (cursor) => {
        if (cursor !== undefined && fail) throw new Error('boom')
        return fakeState(Date.now(), 0, cursor)
      },
      intervalMs: 20,
    })
    const url = await serve(feed)
    const a = new SseReader(await fetch(url))
    expect((await a.next())?.event).toBe('snapshot')
    fail = true
    // The failing delta ends the stream (cut: the reader ends or errors, but does not time
    // out); the timer callback did not throw.
    let end: string | undefined
    while (end === undefined) {
      end = await a.next(3_000).then(
        (e) => (e === undefined ? 'ended' : undefined),
        (err: unknown) => String(err)
      )
    }
    expect(end).not.toContain('no SSE event in time')
    fail = false
    const b = new SseReader(await fetch(url))
    expect((await b.next())?.event).toBe('snapshot')
    expect((await b.next())?.event).toBe('delta')
    await b.cancel()
    feed.close()
  })

  it('forgets clients that leave and ends the rest on close', async () => {
    const feed = new EventFeed({ state: (cursor) => fakeState(Date.now(), 0, cursor), intervalMs: 20 })
    const url = await serve(feed)
    const a = new SseReader(await fetch(url))
    const b = new SseReader(await fetch(url))
    await a.next()
    await b.next()
    expect(feed.size).toBe(2)
    await a.cancel()
    for (let i = 0; i < 50 && feed.size > 1; i++) await new Promise((r) => setTimeout(r, 10))
    expect(feed.size).toBe(1)
    feed.close()
    expect(feed.size).toBe(0)
    let e
    do e = await b.next()
    while (e !== undefined)
  })
})
