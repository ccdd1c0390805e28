// The one place a proxied response's head is written. Node checks every header it is given
// (two validation calls per header, about 85 ns each in a loop and several times that
// cold, once per request, in the running gateway). The rate-limit headers are six more per
// request, and their names are ours and their values digits and durations: nothing there
// for the checks to find. On HTTP/1.1 they are therefore appended to the head Node has just
// assembled, as text, before it goes out with the first body bytes; measured, that is about
// 1% of the gateway's CPU per request (docs/auth-limits-cost.md). This is the seam a
// raw-socket response path would replace.
import { IncomingMessage, ServerResponse } from 'node:http'
import { Socket } from 'node:net'
import type { RequestContext } from './context.js'

/** Node's assembled head: the text writeHead made, and whether it went out yet. */
interface StoredHead {
  _header: string | null
  _headerSent: boolean
}

/**
 * Whether this Node keeps writeHead's head as text until the first write (every release
 * since 0.x does, through an internal field). Asked once, of a response with no connection;
 * if a later Node keeps it otherwise, every header goes through writeHead as usual.
 */
export const appendableHeads = ((): boolean => {
  const socket = new Socket()
  try {
    const res = new ServerResponse(new IncomingMessage(socket))
    res.writeHead(200, ['x-probe', '1'])
    const head = res as unknown as StoredHead
    return typeof head._header === 'string' && head._header.includes('\r\nx-probe: 1\r\n') && head._header.endsWith('\r\n\r\n') && head._headerSent === false
  } catch {
    return false
  } finally {
    socket.destroy()
  }
})()

/**
 * Writes `status` and `headers` (a flat name/value list) with the request's late headers
 * (context.ts LateHeaders): appended as text on HTTP/1.1 when Node allows it, else through
 * writeHead with the rest.
 */
export function writeResponseHead(ctx: RequestContext, status: number, headers: string[]): void {
  const late = ctx.lateHeaders
  const res = ctx.res
  if (late === undefined) {
    res.writeHead(status, headers)
    return
  }
  if (!appendableHeads || ctx.req.httpVersionMajor !== 1) {
    late.pushHeaders(headers)
    res.writeHead(status, headers)
    return
  }
  res.writeHead(status, headers)
  const text = late.headText()
  const head = res as unknown as StoredHead
  // Still held (the upstream's headers cannot flush it: headers.ts drops Expect, the only one
  // that makes Node send the head at once).
  if (text === '' || head._headerSent || head._header === null) return
  // The head ends with its blank line: the late headers go before it.
  head._header = head._header.slice(0, -2) + text + '\r\n'
}
