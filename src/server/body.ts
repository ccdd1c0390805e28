// Bounded request body reading and JSON parsing (413 / 400 in OpenAI's error shape).
import type { IncomingMessage } from 'node:http'
import { InvalidRequestError, PayloadTooLargeError } from '../errors.js'

/** Reads the whole body, refusing more than `limit` bytes (checked before and while reading). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length']
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.reject(tooLarge(limit))
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    function onData(chunk: Buffer): void {
      size += chunk.length
      if (size > limit) {
        cleanup()
        reject(tooLarge(limit))
        return
      }
      chunks.push(chunk)
    }
    function onEnd(): void {
      cleanup()
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size))
    }
    function onError(err: Error): void {
      cleanup()
      reject(err)
    }
    function onClose(): void {
      if (req.complete) return
      cleanup()
      reject(new Error('client closed the connection while sending the body'))
    }
    function cleanup(): void {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
      req.off('close', onClose)
    }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
    req.on('close', onClose)
  })
}

function tooLarge(limit: number): PayloadTooLargeError {
  return new PayloadTooLargeError(`Request body exceeds the ${limit}-byte limit.`)
}

/** Parses a JSON object body; anything else is a 400 that says what was wrong. */
export function parseJsonObject(raw: Buffer): Record<string, unknown> {
  if (raw.length === 0) {
    throw new InvalidRequestError('The request body is empty; send a JSON object.', null, 'invalid_json')
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
