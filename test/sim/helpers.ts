// Shared helpers for the simulator tests: start/close sims, JSON calls, SSE parsing, polling.
import { afterEach } from 'vitest'
import type { SimOptions, SimServer } from '../../src/sim/server.js'
import { startSim } from '../../src/sim/server.js'
import type { StatsSnapshot } from '../../src/sim/stats.js'

/** Starts sims for one test file and closes them after each test. */
export function simHarness(): (options?: SimOptions) => Promise<SimServer> {
  const open: SimServer[] = []
  afterEach(async () => {
    await Promise.all(open.splice(0).map((sim) => sim.close()))
  })
  return async (options) => {
    const sim = await startSim({ ttftMs: 5, tokensPerSecond: 1000, ...options })
    open.push(sim)
    return sim
  }
}

export interface JsonReply {
  status: number
  headers: Headers
  body: unknown
  text: string
}

export async function call(
  url: string,
  init: { method?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {}
): Promise<JsonReply> {
  const body = init.raw ?? (init.body === undefined ? undefined : JSON.stringify(init.body))
  const res = await fetch(url, {
    method: init.method ?? (body === undefined ? 'GET' : 'POST'),
    headers: { 'content-type': 'application/json', ...init.headers },
    body,
  })
  const text = await res.text()
  let parsed: unknown = text
  try {
    parsed = JSON.parse(text)
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body: parsed, text }
}

export async function stats(sim: SimServer): Promise<StatsSnapshot> {
  return (await call(`${sim.url}/sim/stats`)).body as StatsSnapshot
}

export async function setFault(sim: SimServer, fault: Record<string, unknown>): Promise<void> {
  const reply = await call(`${sim.url}/sim/fault`, { body: fault })
  if (reply.status !== 200) throw new Error(`setFault failed: ${reply.text}`)
}

/** One sample from GET /metrics, by metric name and an optional label fragment. */
export async function metric(sim: SimServer, name: string, labels = ''): Promise<number> {
  const text = (await call(`${sim.url}/metrics`)).text
  for (const line of text.split('\n')) {
    if (line.startsWith(name + '{') && line.includes(labels)) {
      return Number(line.slice(line.lastIndexOf(' ') + 1))
    }
  }
  throw new Error(`metric ${name} ${labels} not found in:\n${text}`)
}

/** Splits an SSE body into its `data:` payloads, checking the exact framing on the way. */
export function sseData(text: string): string[] {
  if (!text.endsWith('\n\n')) throw new Error('SSE body does not end with a blank line')
  return text
    .slice(0, -2)
    .split('\n\n')
    .map((frame) => {
      if (!frame.startsWith('data: ') || frame.includes('\n')) {
        throw new Error(`bad SSE frame: ${JSON.stringify(frame)}`)
      }
      return frame.slice('data: '.length)
    })
}

export async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 2000,
  what = 'condition'
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    }
    await sleep(10)
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** A minimal chat request body; `extra` adds or overrides fields. */
export function chatBody<E extends object = object>(content: string, extra?: E) {
  return {
    model: 'sim-model',
    messages: [{ role: 'user' as const, content }],
    ...(extra as E),
  }
}
