// Simulator helpers for tests: in-process simulators on free ports and their HTTP controls.
import { startSim, type SimOptions, type SimServer } from '../../src/sim/server.js'

export interface SimStats {
  received: number
  completed: number
  cancelled: number
  inflight: number
  waiting: number
  lastRequest: { method: string; path: string; headers: Record<string, string>; body: unknown } | null
}

/** `n` simulators on free ports; for 1–3 the result is a tuple, so destructuring is typed. */
export async function startSims(n: 1, options?: SimOptions): Promise<[SimServer]>
export async function startSims(n: 2, options?: SimOptions): Promise<[SimServer, SimServer]>
export async function startSims(n: 3, options?: SimOptions): Promise<[SimServer, SimServer, SimServer]>
export async function startSims(n: number, options?: SimOptions): Promise<SimServer[]>
export async function startSims(n: number, options: SimOptions = {}): Promise<SimServer[]> {
  const sims: SimServer[] = []
  for (let i = 0; i < n; i++) {
    sims.push(await startSim({ ttftMs: 5, tokensPerSecond: 1000, seed: 7, name: `sim-${i}`, ...options }))
  }
  return sims
}

export async function simStats(sim: SimServer): Promise<SimStats> {
  const res = await fetch(`${sim.url}/sim/stats`)
  return (await res.json()) as SimStats
}

export async function setFault(sim: SimServer, fault: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${sim.url}/sim/fault`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(fault),
  })
  if (!res.ok) throw new Error(`fault ${JSON.stringify(fault)} refused: ${res.status}`)
}

export async function resetSim(sim: SimServer): Promise<void> {
  await fetch(`${sim.url}/sim/reset`, { method: 'POST' })
  await setFault(sim, { mode: 'ok' })
}

/** Polls until check() is true or the timeout passes (generous bounds only). */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > until) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 25))
  }
}
