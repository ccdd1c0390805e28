// Reads a request body and parses it as JSON when it is JSON.
import type { IncomingMessage } from 'node:http'
import { SimHttpError } from './reply.js'

/** What a request body turned out to be; `raw` is kept for stats when it is not JSON. */
export type ParsedBody =
  | { readonly kind: 'empty' }
  | { readonly kind: 'json'; readonly value: unknown }
  | { readonly kind: 'text'; readonly raw: string }

/** Generous: the simulator is a test tool, but it should not buffer without bound either. */
const BODY_LIMIT = 32 * 1024 * 1024

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > BODY_LIMIT) {
        req.removeAllListeners('data')
        req.resume()
        reject(new SimHttpError(413, `Request body exceeds ${BODY_LIMIT} bytes.`))
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => resolve(Buffer.concat(chunks, size)))
    req.on('error', reject)
    // A client that leaves mid-upload must not leave this promise pending for ever.
    req.on('close', () => {
      if (!req.complete) reject(new SimHttpError(400, 'The client closed before sending the body.'))
    })
  })
}

export function parseBody(raw: Buffer): ParsedBody {
  if (raw.length === 0) return { kind: 'empty' }
  const text = raw.toString('utf8')
  try {
    return { kind: 'json', value: JSON.parse(text) as unknown }
  } catch {
    return { kind: 'text', raw: text }
  }
}

/** The body as a JSON object, or the 400 OpenAI gives for anything else. */
export function requireObject(body: ParsedBody): Record<string, unknown> {
  if (body.kind === 'json' && isRecord(body.value)) return body.value
  const what =
    body.kind === 'empty' ? 'empty' : body.kind === 'text' ? 'not valid JSON' : 'not a JSON object'
  const message = `The request body is ${what}; send a JSON object.`
  throw new SimHttpError(400, message, 'invalid_request_error', 'invalid_json')
}

/** The request's model, echoed back as vLLM does; the configured one when it names none. */
export function modelOf(body: Record<string, unknown>, fallback: string): string {
  return typeof body.model === 'string' && body.model !== '' ? body.model : fallback
}

export function isTokenList(value: unknown): value is number[] {
  return Array.isArray(value) && value.length > 0 && value.every((t) => typeof t === 'number')
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
