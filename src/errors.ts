// The error family: every failure on a request path is one of these classes, and
// server/reply.ts is the only place that turns one into bytes.

/** OpenAI's error `type` values, plus the few a gateway adds. */
export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'insufficient_quota'
  | 'server_error'
  | 'api_error'
  | 'timeout_error'

/** Where the failure came from: decides whether it may feed outlier detection. */
export type ErrorSource = 'client' | 'gateway' | 'upstream'

export abstract class GatewayError extends Error {
  abstract readonly status: number
  abstract readonly type: ErrorType
  abstract readonly code: string
  readonly source: ErrorSource = 'gateway'
  /** May the request be tried again on another upstream (only before the commit point)? */
  readonly retryable: boolean = false
  /** Name of the offending request field, when there is one (OpenAI's `param`). */
  param: string | null = null
  /** Extra response headers (Retry-After, Allow…). */
  headers: Record<string, string> | undefined = undefined

  toBody(): { error: { message: string; type: ErrorType; code: string; param: string | null } } {
    return { error: { message: this.message, type: this.type, code: this.code, param: this.param } }
  }
}

export class InvalidRequestError extends GatewayError {
  readonly status = 400
  readonly type = 'invalid_request_error'
  override readonly source = 'client'
  constructor(
    message: string,
    param: string | null = null,
    readonly code: string = 'invalid_request'
  ) {
    super(message)
    this.param = param
  }
}

export class PayloadTooLargeError extends GatewayError {
  readonly status = 413
  readonly type = 'invalid_request_error'
  readonly code = 'payload_too_large'
  override readonly source = 'client'
  constructor(message: string) {
    super(message)
    // The rest of the body is never read, so the connection cannot be reused.
    this.headers = { connection: 'close' }
  }
}

export class UnsupportedMediaTypeError extends GatewayError {
  readonly status = 415
  readonly type = 'invalid_request_error'
  readonly code = 'unsupported_media_type'
  override readonly source = 'client'
}

/** RFC 9112 §6.1: a transfer coding other than chunked (`gzip, chunked`), which the gateway does not decode: 501. */
export class UnsupportedTransferCodingError extends GatewayError {
  readonly status = 501
  readonly type = 'invalid_request_error'
  readonly code = 'unsupported_transfer_encoding'
  override readonly source = 'client'
  constructor(message: string) {
    super(message)
    // What the body is, past the chunked framing, is unknown: nothing after it on the connection is read.
    this.headers = { connection: 'close' }
  }
}

export class ModelNotFoundError extends GatewayError {
  readonly status = 404
  readonly type = 'invalid_request_error'
  readonly code = 'model_not_found'
  override readonly source = 'client'
  constructor(model: string) {
    super(`The model '${model}' does not exist or you do not have access to it.`)
    this.param = 'model'
  }
}

export class RouteNotFoundError extends GatewayError {
  readonly status = 404
  readonly type = 'invalid_request_error'
  readonly code = 'not_found'
  override readonly source = 'client'
  constructor(method: string, path: string) {
    super(`Unknown request URL: ${method} ${path}.`)
  }
}

export class MethodNotAllowedError extends GatewayError {
  readonly status = 405
  readonly type = 'invalid_request_error'
  readonly code = 'method_not_allowed'
  override readonly source = 'client'
  constructor(method: string, path: string, allowed: readonly string[]) {
    super(`Method ${method} is not allowed on ${path}; use ${allowed.join(', ')}.`)
    this.headers = { allow: allowed.join(', ') }
  }
}

export class AuthenticationError extends GatewayError {
  readonly status = 401
  readonly type = 'authentication_error'
  override readonly source = 'client'
  constructor(
    message: string,
    readonly code: string = 'invalid_api_key'
  ) {
    super(message)
    // RFC 9110 §15.5.2: a 401 says which scheme it wants.
    this.headers = { 'www-authenticate': 'Bearer realm="switchyard"' }
  }
}

export class PermissionDeniedError extends GatewayError {
  readonly status = 403
  readonly type = 'permission_error'
  override readonly source = 'client'
  constructor(
    message: string,
    readonly code: string = 'permission_denied'
  ) {
    super(message)
  }
}

/** A limit of the gateway's own refused the request (429). */
export class RateLimitedError extends GatewayError {
  readonly status = 429
  readonly type: ErrorType
  override readonly source = 'client'
  constructor(
    message: string,
    retryAfterSeconds: number,
    readonly code: string = 'rate_limit_exceeded'
  ) {
    super(message)
    this.type = code === 'insufficient_quota' ? 'insufficient_quota' : 'rate_limit_error'
    // Waiting does not refill a budget: tell SDKs (x-should-retry) not to retry at all.
    this.headers =
      code === 'insufficient_quota'
        ? { 'x-should-retry': 'false' }
        : { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) }
  }
}

/** The shared limit counters (Redis) cannot be reached and `state.on_error` is `closed`. */
export class LimitsUnavailableError extends GatewayError {
  readonly status = 503
  readonly type = 'server_error'
  readonly code = 'limits_unavailable'
  constructor() {
    super('Rate limits cannot be checked right now; the gateway refuses rather than admit unchecked.')
    this.headers = { 'retry-after': '1' }
  }
}

/** No upstream can take the request (all down, draining, or the queue is full). */
export class NoHealthyUpstreamError extends GatewayError {
  readonly status = 503
  readonly type = 'server_error'
  constructor(
    message: string,
    readonly code: string = 'no_healthy_upstream',
    retryAfterSeconds = 1
  ) {
    super(message)
    this.headers = { 'retry-after': String(retryAfterSeconds) }
  }
}

/** The upstream could not be reached or broke the connection (502). */
export class UpstreamConnectionError extends GatewayError {
  readonly status = 502
  readonly type = 'server_error'
  readonly code = 'upstream_unavailable'
  override readonly source = 'upstream'
  override readonly retryable = true
}

/** The upstream did not answer in time (504 before the first byte). */
export class UpstreamTimeoutError extends GatewayError {
  readonly status = 504
  readonly type = 'timeout_error'
  override readonly source = 'upstream'
  override readonly retryable = true
  constructor(
    message: string,
    readonly code: 'connect_timeout' | 'first_token_timeout' | 'idle_timeout' | 'total_timeout'
  ) {
    super(message)
  }
}

/** The upstream answered with an error status (its body is relayed when not retried). */
export class UpstreamHttpError extends GatewayError {
  readonly type = 'api_error'
  readonly code = 'upstream_error'
  override readonly source = 'upstream'
  override readonly retryable: boolean
  constructor(
    readonly status: number,
    message: string,
    /** Seconds the upstream asked us to wait (429/503 Retry-After), if any. */
    readonly retryAfter?: number
  ) {
    super(message)
    this.retryable = status === 429 || status >= 500
    if (retryAfter !== undefined && retryAfter > 0) {
      this.headers = { 'retry-after': String(Math.ceil(retryAfter)) }
    }
  }
}

/**
 * The upstream refused the gateway's own credentials (401/403). Never the client's fault, and
 * its body is never relayed: OpenAI's names a masked fragment of the upstream key. Another
 * upstream may hold good ones, so it is retried.
 */
export class UpstreamAuthError extends GatewayError {
  readonly status = 502
  readonly type = 'api_error'
  readonly code = 'upstream_auth_error'
  override readonly source = 'upstream'
  override readonly retryable = true
  constructor(upstream: string, upstreamStatus: number) {
    super(`Upstream ${upstream} refused the gateway's credentials (${upstreamStatus}); check its api_key.`)
  }
}

/** The stream broke after bytes were already sent: reported in-band. */
export class UpstreamStreamError extends GatewayError {
  readonly status = 502
  readonly type = 'server_error'
  readonly code = 'upstream_stream_error'
  override readonly source = 'upstream'
}

/** The gateway is shutting down and takes no new work. */
export class ShuttingDownError extends GatewayError {
  readonly status = 503
  readonly type = 'server_error'
  readonly code = 'shutting_down'
  constructor() {
    super('The gateway is shutting down; retry on another instance.')
    this.headers = { 'retry-after': '1', connection: 'close' }
  }
}

/** A bug: anything thrown that is not a GatewayError ends up here, with no detail leaked. */
export class InternalError extends GatewayError {
  readonly status = 500
  readonly type = 'server_error'
  readonly code = 'internal_error'
  constructor(override readonly cause: unknown) {
    super('The gateway failed to process the request.')
  }
}

export function toGatewayError(err: unknown): GatewayError {
  return err instanceof GatewayError ? err : new InternalError(err)
}
