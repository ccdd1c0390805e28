// The requests in progress on one gateway's listener, so that the drain deadline can end
// them in words (an SSE error event, a 503) rather than by cutting their connections.
import type { RequestContext } from './context.js'

/**
 * An intrusive doubly linked list through RequestContext.livePrev / liveNext: O(1) add and
 * delete with no allocation on the request path.
 */
export class LiveRequests {
  private head: RequestContext | undefined = undefined
  private count = 0

  get size(): number {
    return this.count
  }

  add(ctx: RequestContext): void {
    ctx.liveNext = this.head
    if (this.head !== undefined) this.head.livePrev = ctx
    this.head = ctx
    this.count++
  }

  /** Idempotent: a request that already left is not in the list. */
  delete(ctx: RequestContext): void {
    if (ctx.livePrev === undefined && this.head !== ctx) return
    if (ctx.livePrev === undefined) this.head = ctx.liveNext
    else ctx.livePrev.liveNext = ctx.liveNext
    if (ctx.liveNext !== undefined) ctx.liveNext.livePrev = ctx.livePrev
    ctx.livePrev = undefined
    ctx.liveNext = undefined
    this.count--
  }

  /**
   * The drain deadline: every attempt still running upstream ends now, in-band on a
   * committed stream, else as a 503 `shutting_down`; returns how many were ended.
   */
  shutdown(): number {
    let ended = 0
    let ctx = this.head
    while (ctx !== undefined) {
      // Read first: ending an attempt may take the request out of the list.
      const next = ctx.liveNext
      if (ctx.exchange?.shutdown() === true) ended++
      ctx = next
    }
    return ended
  }
}
