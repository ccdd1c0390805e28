// Virtual keys: the format clients send, how it is hashed, and what a key grants. Only
// the sha256 of a key is ever stored or compared; the key itself exists once, when made.
import { hash, randomBytes } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import type { LimitSet } from '../config/limits-schema.js'

/** Every key the gateway makes starts with this (clients may be given any string, though). */
export const KEY_PREFIX = 'sk-sy-'

/** A key as the index holds it: what it may do, never what it is. */
export interface VirtualKey {
  readonly name: string
  /** sha256 of the key, lower-case hex. */
  readonly hash: string
  /** Models it may use; undefined = all. */
  readonly models: ReadonlySet<string> | undefined
  /** Its limits in the limiter's one shape (limits/active-limits.ts); undefined when it sets none. */
  readonly limits: LimitSet | undefined
  readonly budgetUsd: number | undefined
  /** Epoch ms; undefined = never. */
  readonly expiresAt: number | undefined
  /** Epoch ms when revoked; kept in the index so the refusal can say so. */
  readonly revokedAt: number | undefined
  readonly source: 'config' | 'store'
}

/** A new random key: `sk-sy-` and 32 base64url characters (192 bits). */
export function generateKey(): string {
  return KEY_PREFIX + randomBytes(24).toString('base64url')
}

/** sha256 of a key, lower-case hex (the fastest form node:crypto returns: no Buffer). */
export function hashKeyHex(key: string): string {
  return hash('sha256', key, 'hex')
}

/** The form config and store use: `sha256:<hex>`. */
export function formatKeyHash(key: string): string {
  return `sha256:${hashKeyHex(key)}`
}

/** `sha256:<HEX>` → lower-case hex. */
export function hashHex(configured: string): string {
  return configured.slice('sha256:'.length).toLowerCase()
}

/**
 * Two strings (digests, keys) are equal, compared in constant time for their length: every
 * character is looked at, with no early exit (what crypto.timingSafeEqual does, without
 * making two Buffers per request).
 */
export function sameText(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return diff === 0
}

/** Does the header start with "bearer", in any case? (No substring made per request.) */
function isBearer(auth: string): boolean {
  const word = 'bearer'
  for (let i = 0; i < 6; i++) {
    // ASCII letters only: | 0x20 lower-cases them.
    if ((auth.charCodeAt(i) | 0x20) !== word.charCodeAt(i)) return false
  }
  return true
}

/**
 * The key a client presented: `Authorization: Bearer …` (OpenAI), `api-key` (Azure) or
 * `x-api-key` (Anthropic), in that order. undefined when none is there.
 */
export function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  return bearerKey(headers.authorization) ?? apiKey(headers)
}

/** The key in an `Authorization: Bearer …` header, if it holds one (then it wins over the others). */
export function bearerKey(auth: string | undefined): string | undefined {
  if (auth !== undefined && auth.length > 7 && auth.charCodeAt(6) === 0x20 && isBearer(auth)) {
    const key = auth.slice(7).trim()
    if (key !== '') return key
  }
  return undefined
}

/** The key in an `api-key` or `x-api-key` header, in that order. */
export function apiKey(headers: IncomingHttpHeaders): string | undefined {
  const azure = headers['api-key']
  if (typeof azure === 'string' && azure !== '') return azure.trim()
  const anthropic = headers['x-api-key']
  if (typeof anthropic === 'string' && anthropic !== '') return anthropic.trim()
  return undefined
}
