// Bounded request body reading and JSON parsing (413 / 400 in OpenAI's error shape).
import { isUtf8 } from 'node:buffer'
import type { IncomingMessage } from 'node:http'
import { InvalidRequestError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../errors.js'

interface BodyRead {
  first: Buffer | undefined
  more: Buffer[] | undefined
  size: number
  readonly limit: number
  readonly resolve: (body: Buffer) => void
  readonly reject: (err: Error) => void
}

const kBody = Symbol('switchyard.body')
type Reading = IncomingMessage & { [kBody]?: BodyRead }

/**
 * Reads the whole body, refusing more than `limit` bytes (checked before, against the
 * declared Content-Length, and while reading). A client that asked `Expect: 100-continue`
 * is told to send only now (`res`): after the key, the content type and the declared size
 * passed, so a body that would be refused is never uploaded (listener.ts keeps Node from
 * answering 100 by itself).
 */
export function readBody(req: IncomingMessage, declared: string | undefined, limit: number, res?: { writeContinue(): void }): Promise<Buffer> {
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.reject(tooLarge(limit))
  }
  // Node routes only HTTP/1.1 (and HTTP/2) requests that expect 100-continue through
  // checkContinue; an HTTP/1.0 client must never be sent a 100 (RFC 9110 §10.1.1).
  if (res !== undefined && req.headers.expect !== undefined && req.httpVersion !== '1.0') res.writeContinue()
  return new Promise((resolve, reject) => {
    ;(req as Reading)[kBody] = { first: undefined, more: undefined, size: 0, limit, resolve, reject }
    // Shared listeners (no closures per request); they stay attached once the read is settled
    // and then do nothing: the message is not reused.
    req.on('data', onBodyData)
    req.on('end', onBodyEnd)
    req.on('error', onBodyError)
    req.on('close', onBodyClose)
  })
}

function settle(req: Reading): BodyRead | undefined {
  const read = req[kBody]
  req[kBody] = undefined
  return read
}

function onBodyData(this: Reading, chunk: Buffer): void {
  const read = this[kBody]
  if (read === undefined) return
  read.size += chunk.length
  if (read.size > read.limit) {
    settle(this)
    read.reject(tooLarge(read.limit))
  } else if (read.first === undefined) read.first = chunk
  else (read.more ??= []).push(chunk)
}

function onBodyEnd(this: Reading): void {
  const read = settle(this)
  if (read === undefined) return
  if (read.more === undefined) read.resolve(read.first ?? EMPTY)
  else read.resolve(Buffer.concat([read.first!, ...read.more], read.size))
}

function onBodyError(this: Reading, err: Error): void {
  settle(this)?.reject(err)
}

function onBodyClose(this: Reading): void {
  if (this.complete) return
  settle(this)?.reject(new Error('client closed the connection while sending the body'))
}

const EMPTY = Buffer.alloc(0)

function tooLarge(limit: number): PayloadTooLargeError {
  return new PayloadTooLargeError(`Request body exceeds the ${limit}-byte limit.`)
}

/** Parses a JSON object body; anything else is a 400 that says what was wrong. */
export function parseJsonObject(raw: Buffer): Record<string, unknown> {
  if (raw.length === 0) {
    throw new InvalidRequestError('The request body is empty; send a JSON object.', null, 'invalid_json')
  }
  // JSON is UTF-8 (RFC 8259 §8.1). Decoding would turn bad bytes into U+FFFD for our filters
  // while the unchanged body goes upstream as sent, where another decoder may read it otherwise.
  if (!isUtf8(raw)) {
    throw new InvalidRequestError('The request body is not valid UTF-8.', null, 'invalid_json')
  }
  let value: unknown
  try {
    value = JSON.parse(raw.toString('utf8'))
  } catch (err) {
    throw new InvalidRequestError(
      `The request body is not valid JSON: ${(err as Error).message}`,
      null,
      'invalid_json'
    )
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidRequestError('The request body must be a JSON object.', null, 'invalid_json')
  }
  return value as Record<string, unknown>
}

/**
 * Refuses a body declared as anything but JSON (`application/json` or a `+json` type), before it is
 * read: text/plain, form and multipart bodies are what a browser page may send cross-origin
 * without a preflight, so an open gateway on loopback must not act on them. No Content-Type
 * at all is accepted (scripts that forget it).
 */
/**
 * A request body with a content coding (`Content-Encoding: gzip`) is refused, 415 (RFC 9110
 * §15.5.16): the filters read the body as it is, and passing the header on would tell the
 * upstream that a body the gateway may have rewritten is compressed.
 */
export function checkIdentityEncoding(coding: string | undefined): void {
  if (coding === undefined) return
  const c = coding.trim().toLowerCase()
  if (c === '' || c === 'identity') return
  throw new UnsupportedMediaTypeError(`Content-Encoding '${coding.slice(0, 64)}' is not supported on requests: send the body uncompressed.`)
}

export function checkJsonContentType(type: string | undefined): void {
  if (type === undefined || type === 'application/json') return
  const semi = type.indexOf(';')
  const media = (semi === -1 ? type : type.slice(0, semi)).trim().toLowerCase()
  if (media === 'application/json' || media.endsWith('+json')) return
  throw new UnsupportedMediaTypeError(
    `Unsupported Content-Type '${media.slice(0, 64)}': send the body as application/json.`
  )
}
