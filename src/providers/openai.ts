// OpenAI-compatible upstreams (vLLM, llama.cpp, Ollama, TGI, OpenAI): the body passes
// through, except the upstream's own model name and the usage request on streams.
import { upstreamRequestHeaders } from '../proxy/headers.js'
import type { Upstream } from '../routing/upstream.js'
import type { RequestContext } from '../server/context.js'
import { serializeBody, withUsageRequest } from './json-body.js'
import type { Provider, UpstreamRequest } from './provider.js'

/** ctx.locals key: the body serialised for one upstream model name, reused across retries. */
const BODY_CACHE = 'openai.body'

interface BodyCache {
  readonly model: string
  readonly askUsage: boolean
  readonly bytes: Buffer
}

export const openAiProvider: Provider = {
  name: 'openai',
  prepare(ctx: RequestContext, upstream: Upstream, model: string): UpstreamRequest {
    return {
      path: upstream.requestPath(ctx.path.slice(3), ctx.search),
      method: 'POST',
      headers: upstreamRequestHeaders(ctx, upstream),
      body: bodyFor(ctx, model, ctx.usageInjected && upstream.spec.stream_usage),
    }
  },
}

/**
 * The original bytes when nothing needs changing; the usage request alone is put into the
 * client's bytes as they are; anything else (a rename, a filter that set `ctx.bodyChanged`,
 * a client's own stream_options) is one re-serialisation per distinct upstream model name
 * that keeps the client's numbers as written (json-body.ts). Cached, so retries do not redo it.
 */
function bodyFor(ctx: RequestContext, model: string, askUsage: boolean): Buffer {
  const body = ctx.body!
  const raw = ctx.rawBody!
  const rename = model !== body.model
  if (!rename && !askUsage && !ctx.bodyChanged) return raw
  const cached = ctx.locals[BODY_CACHE] as BodyCache | undefined
  if (cached !== undefined && cached.model === model && cached.askUsage === askUsage) return cached.bytes
  let bytes = !rename && !ctx.bodyChanged && body.stream_options === undefined ? withUsageRequest(raw) : undefined
  if (bytes === undefined) {
    const out: Record<string, unknown> = { ...body }
    if (rename) out.model = model
    if (askUsage) {
      const opts = body.stream_options
      out.stream_options = { ...(typeof opts === 'object' && opts !== null ? opts : {}), include_usage: true }
    }
    bytes = Buffer.from(serializeBody(out, raw))
  }
  ctx.locals[BODY_CACHE] = { model, askUsage, bytes } satisfies BodyCache
  return bytes
}
