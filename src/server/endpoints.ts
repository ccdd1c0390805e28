// The public HTTP surface of the data plane: path → what handles it, and the minimal
// shape each proxied endpoint requires (deeper validation is a filter stage).
import { InvalidRequestError, MethodNotAllowedError, RouteNotFoundError } from '../errors.js'
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

/** Checks the fields routing depends on; returns the requested model name. */
export function checkRequiredFields(endpoint: Endpoint, body: Record<string, unknown>): string {
  const model = body.model
  if (model === undefined) {
    throw new InvalidRequestError("Missing required parameter: 'model'.", 'model', 'missing_required_parameter')
  }
  if (typeof model !== 'string' || model === '') {
    throw new InvalidRequestError("'model' must be a non-empty string.", 'model', 'invalid_type')
  }
  const field = REQUIRED[endpoint]
  const value = body[field]
  if (value === undefined || value === null) {
    throw new InvalidRequestError(`Missing required parameter: '${field}'.`, field, 'missing_required_parameter')
  }
  if (endpoint === 'chat' && (!Array.isArray(value) || value.length === 0)) {
    throw new InvalidRequestError("'messages' must be a non-empty array.", 'messages', 'invalid_type')
  }
  if (body.stream !== undefined && typeof body.stream !== 'boolean') {
    throw new InvalidRequestError("'stream' must be a boolean.", 'stream', 'invalid_type')
  }
  return model
}
