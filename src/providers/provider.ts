// Provider: how one kind of upstream API is spoken to. Core code (proxy/, routing/) sees
// only this interface; vendor differences live in the implementations.
import type { Upstream } from '../routing/upstream.js'
import type { RequestContext } from '../server/context.js'

/** One attempt's upstream request. */
export interface UpstreamRequest {
  readonly path: string
  readonly method: 'GET' | 'POST'
  readonly headers: string[]
  readonly body: Buffer | null
}

export interface Provider {
  readonly name: string
  /** Builds the upstream request for this context on this upstream, naming `model`. */
  prepare(ctx: RequestContext, upstream: Upstream, model: string): UpstreamRequest
}
