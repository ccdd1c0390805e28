// Socket-level request errors (llhttp refusing malformed framing, header or request timeouts,
// oversized headers) answered in OpenAI's error shape instead of Node's bare 400, then the
// connection is closed: after a framing error nothing on it can be trusted. Errors below HTTP
// (a TLS handshake that failed or timed out, a socket error) close the connection at once.
import type { Duplex } from 'node:stream'
import { rawErrorResponse } from './reply.js'

interface ParserError extends Error {
  code?: string
  /** llhttp's explanation, e.g. "Duplicate Content-Length". */
  reason?: string
}

/** The status, code and message for a parser or timeout error. */
export function describeClientError(err: ParserError): { status: number; code: string; message: string } {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, code: 'headers_too_large', message: 'The request headers are too large.' }
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, code: 'request_timeout', message: 'The request was not received in time.' }
    case 'HPE_INVALID_TRANSFER_ENCODING':
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return { status: 400, code: 'invalid_framing', message: `The request framing is ambiguous or invalid: ${err.reason ?? err.code}.` }
    default:
      return { status: 400, code: 'malformed_request', message: `The request is not valid HTTP/1.1: ${err.reason ?? err.code ?? 'parse error'}.` }
  }
}

/** An error of the HTTP/1.1 layer (llhttp's HPE_* codes, node:http's request timeout). */
function isHttpError(code: string | undefined): boolean {
  return code !== undefined && (code.startsWith('HPE_') || code === 'ERR_HTTP_REQUEST_TIMEOUT')
}

export function onClientError(err: ParserError, socket: Duplex): void {
  // Not an HTTP error: the http2 server passes its TLS errors on as 'clientError' (and
  // leaves the socket to whoever listens), e.g. ERR_TLS_HANDSHAKE_TIMEOUT; no HTTP answer
  // can reach a peer whose handshake never finished, and writing one would never complete.
  // A reset peer, or a response already under way: nothing sensible can be written either.
  const busy = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true
  if (!isHttpError(err.code) || !socket.writable || busy) {
    socket.destroy()
    return
  }
  const { status, code, message } = describeClientError(err)
  // Once flushed, destroy: a half-open socket would otherwise wait on a peer that never ends.
  socket.end(rawErrorResponse(status, code, message), () => socket.destroy())
}
