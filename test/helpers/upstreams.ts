// Upstream objects for unit tests (their connection pools connect lazily: no sockets here).
import { Upstream } from '../../src/routing/upstream.js'
import { upstreamSchema } from '../../src/config/schema.js'

export function makeUpstreams(n: number, spec: Record<string, unknown> = {}): Upstream[] {
  return Array.from(
    { length: n },
    (_, i) =>
      new Upstream(upstreamSchema.parse({ url: `http://127.0.0.1:${9001 + i}/v1`, name: `u${i}`, ...spec }), {
        id: `u${i}`,
        connectTimeout: 1000,
      })
  )
}
