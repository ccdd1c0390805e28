// The cost of request filtering on the hot path, measured in process: CPU time per request
// of each filter configuration on a typical chat body, next to what JSON.parse of the same
// body costs (the gateway pays that anyway). In process, because a whole-gateway load test
// on a shared two-core machine is too noisy to see a few microseconds.
import { filtersSchema } from '../src/config/filters.js'
import { buildFilterPipeline } from '../src/filters/pipeline.js'
import type { RequestContext } from '../src/server/context.js'
import { fmt } from './lib.js'

/** A chat body with some prose in it, so the text stages have something to scan. */
const BODY = Buffer.from(
  JSON.stringify({
    model: 'bench',
    max_tokens: 16,
    temperature: 0.7,
    tools: [{ type: 'function', function: { name: 'lookup', description: 'Look a term up', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }],
    messages: [
      { role: 'system', content: 'You are a helpful assistant. Answer briefly and cite nothing you cannot verify. '.repeat(4) },
      { role: 'user', content: 'Summarise the following note for me, please. '.repeat(8) },
      { role: 'assistant', content: 'Of course. Here is a short summary of the note you sent.' },
      { role: 'user', content: [{ type: 'text', text: 'Thanks! Now list three follow-up questions I could ask.' }] },
    ],
  })
)

const VARIANTS: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
  ['JSON.parse alone (reference)', { validate: false, max_json_depth: 1000 }],
  ['validation off (depth and message count only)', { validate: false }],
  ['default (+ strict validation)', {}],
  ['+ deny, PII redaction, max_tokens clamp', { deny: ['(?i)ignore all previous instructions'], redact_pii: ['email', 'phone', 'card'], max_tokens: { limit: 4096, action: 'clamp' } }],
]

function perRequestUs(filters: Record<string, unknown>, reference: boolean, n: number): number {
  const pipeline = buildFilterPipeline(filtersSchema.parse(filters))
  const ctx = { endpoint: 'chat', rawBody: BODY, body: undefined, bodyChanged: false } as unknown as RequestContext
  const run = (): void => {
    ctx.body = JSON.parse(BODY.toString('utf8')) as Record<string, unknown>
    if (reference) return
    pipeline.checkRaw(ctx)
    void pipeline.apply(ctx)
  }
  for (let i = 0; i < n / 10; i++) run()
  const t0 = process.cpuUsage()
  for (let i = 0; i < n; i++) run()
  const used = process.cpuUsage(t0)
  return (used.user + used.system) / n
}

export function filterRows(n = 50_000): void {
  console.log(`\n| filters, in process (${BODY.length}-byte chat body) | CPU µs per request, JSON.parse included |`)
  console.log('| --- | --- |')
  VARIANTS.forEach(([name, filters], i) => {
    console.log(`| ${name} | ${fmt(perRequestUs(filters, i === 0, n), 1)} |`)
  })
}
