// The public HTTP surface of the data plane: path → what handles it, and the minimal
// shape each proxied endpoint requires (deeper validation is a filter stage).
import { MethodNotAllowedError, RouteNotFoundError } from '../errors.js'
import { boolean, emptyArray, invalidType, missing, nonEmptyString } from '../filters/checks.js'
import type { Endpoint } from '../types.js'

export type EndpointDef =
  | { readonly kind: 'proxy'; readonly endpoint: Endpoint; readonly methods: readonly string[] }
  | { readonly kind: 'local'; readonly name: 'models' | 'model' | 'healthz' | 'readyz'; readonly methods: readonly string[] }

const POST = ['POST'] as const
const GET = ['GET', 'HEAD'] as const

const EXACT = new Map<string, EndpointDef>([
  ['/v1/chat/completions', { kind: 'proxy', endpoint: 'chat', methods: POST }],
  ['/v1/completions', { kind: 'proxy', endpoint: 'completions', methods: POST }],
  ['/v1/embeddings', { kind: 'proxy', endpoint: 'embeddings', methods: POST }],
  ['/v1/models', { kind: 'local', name: 'models', methods: GET }],
  ['/healthz', { kind: 'local', name: 'healthz', methods: GET }],
  ['/readyz', { kind: 'local', name: 'readyz', methods: GET }],
])
const MODEL_DEF: EndpointDef = { kind: 'local', name: 'model', methods: GET }

/** Finds the endpoint for a path, or throws 404 / 405. */
export function matchEndpoint(method: string, path: string): EndpointDef {
  const def = EXACT.get(path) ?? (path.startsWith('/v1/models/') ? MODEL_DEF : undefined)
  if (def === undefined) throw new RouteNotFoundError(method, path)
  if (!def.methods.includes(method)) throw new MethodNotAllowedError(method, path, def.methods)
  return def
}

/** The field each endpoint cannot do without, beside `model`. */
const REQUIRED: Record<Endpoint, string> = { chat: 'messages', completions: 'prompt', embeddings: 'input' }

/**
 * Checks the fields routing depends on; returns the requested model name. Wording and codes
 * are the validator's (filters/checks.ts), so a mistake reads the same whichever stage finds
 * it; `null` counts as "not given", as it does there.
 */
export function checkRequiredFields(endpoint: Endpoint, body: Record<string, unknown>): string {
  const model = body.model
  if (model === undefined || model === null) missing('model')
  nonEmptyString(model, 'model')
  const field = REQUIRED[endpoint]
  const value = body[field]
  if (value === undefined || value === null) missing(field)
  if (endpoint === 'chat') {
    if (!Array.isArray(value)) invalidType(field, 'an array', value)
    if (value.length === 0) emptyArray(field)
  }
  if (body.stream !== undefined && body.stream !== null) boolean(body.stream, 'stream')
  return model as string
}
