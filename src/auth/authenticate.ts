// The auth hooks: who is calling (onRequest, before the body is read) and whether that key
// may use the model it asked for (preHandler, once the model is known).
import { AuthenticationError, PermissionDeniedError } from '../errors.js'
import type { RequestContext } from '../server/context.js'
import type { KeyRing } from './key-ring.js'
import { apiKey, bearerKey } from './keys.js'

/** onRequest: with `auth.mode: keys`, a known, live key or 401. Sets ctx.key. */
export const authenticate = (ring: KeyRing) =>
  function authenticate(ctx: RequestContext): void {
    const config = ctx.snapshot.config
    if (config.auth === undefined || config.auth.mode === 'none') return
    const headers = ctx.headers
    const auth = headers.authorization
    const socket = ctx.req.socket
    let key = auth === undefined ? undefined : ring.remembered(config, auth, socket)
    if (key === undefined) {
      // Authorization: Bearer wins over api-key and x-api-key (presentedKey's order).
      const bearer = bearerKey(auth)
      const presented = bearer ?? apiKey(headers)
      if (presented === undefined) {
        throw new AuthenticationError(
          auth === undefined || auth.trim() === ''
            ? 'You did not provide an API key. Send it as Authorization: Bearer <key> (or an api-key or x-api-key header).'
            : 'The Authorization header does not use the Bearer scheme. Send the key as Authorization: Bearer <key> (or in an api-key or x-api-key header).',
          'missing_api_key'
        )
      }
      key = ring.lookup(config, presented, socket, bearer === undefined ? undefined : auth)
    }
    // Never echo the key, not even a part of it.
    if (key === undefined) throw new AuthenticationError('Incorrect API key provided.')
    if (key.revokedAt !== undefined) throw new AuthenticationError('This API key has been revoked.')
    if (key.expiresAt !== undefined && Date.now() >= key.expiresAt) throw new AuthenticationError('This API key has expired.')
    ctx.key = key
  }

/** preHandler: a key with an allow-list may only use the models on it (403). */
export function checkModelAccess(ctx: RequestContext): void {
  const models = ctx.key?.models
  if (models === undefined || models.has(ctx.model!)) return
  const err = new PermissionDeniedError(`The key '${ctx.key!.name}' may not use the model '${ctx.model}'.`, 'model_not_allowed')
  err.param = 'model'
  throw err
}

/** May this request's key use `model`? (For lists: /v1/models shows only those.) */
export function mayUseModel(ctx: RequestContext, model: string): boolean {
  const models = ctx.key?.models
  return models === undefined || models.has(model)
}
