// CPU cost of each reporting hook per request, measured in-process on a real request's
// context: far steadier than req/s on a shared machine. Includes the SQLite writes the
// usage worker thread does for the recorded rows (process CPU covers every thread).
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { parseConfig } from '../src/config/load.js'
import { Gateway } from '../src/gateway.js'
import type { RequestContext } from '../src/server/context.js'
import { startSim } from '../src/sim/server.js'
import { benchDir } from './lib.js'

export interface HookCost {
  readonly name: string
  /** CPU µs per request. */
  readonly us: number
}

/** The onResponse hooks by their function names. */
const LABELS: Record<string, string> = { usageFallbackHook: 'usage fallback', accessLog: 'access log', record: 'metrics', hook: 'usage store' }

function cpuUs(): number {
  const u = process.cpuUsage()
  return u.user + u.system
}

/** Runs each onResponse hook `n` times on a captured context; returns CPU µs per call. */
export async function reportingCost(n = 50_000): Promise<HookCost[]> {
  const dir = benchDir('switchyard-bench-hooks-')
  const sim = await startSim({ ttftMs: 0, tokensPerSecond: 0 })
  const gw = new Gateway(
    parseConfig({
      server: { port: 0 },
      admin: { port: 0 },
      logging: { access_log: join(dir, 'access.log'), level: 'warn' },
      usage: { sqlite: join(dir, 'usage.db'), buffer: n + 1000 },
      prices: { bench: { input: 1, output: 2 } },
      models: [{ name: 'bench', upstreams: [{ url: `${sim.url}/v1`, name: 'sim' }] }],
    })
  )
  await gw.start()
  try {
    let captured: RequestContext | undefined
    gw.hooks.onResponse.push((ctx) => void (captured = ctx))
    const agent = new Agent()
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'bench', stream: true, max_tokens: 16, messages: [{ role: 'user', content: 'Hello, benchmark' }] }),
    })
    await res.body.dump()
    await agent.close()
    while (captured === undefined) await new Promise((r) => setTimeout(r, 5))
    const ctx = captured
    const hooks = gw.hooks.onResponse.slice(0, -1)
    const out: HookCost[] = []
    for (const hook of hooks) {
      for (let i = 0; i < 2000; i++) hook(ctx)
      await gw.usage?.flush()
      const t0 = cpuUs()
      for (let i = 0; i < n; i++) {
        hook(ctx)
        // Let batched work (log writes, usage batches) run as it would between requests.
        if (i % 500 === 499) await new Promise((r) => setImmediate(r))
      }
      await gw.usage?.flush()
      out.push({ name: LABELS[hook.name] ?? hook.name, us: (cpuUs() - t0) / n })
    }
    return out
  } finally {
    await gw.stop(1000)
    await sim.close()
  }
}
