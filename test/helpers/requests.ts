// Plain HTTP calls to a gateway for e2e tests (no SDK in between, so statuses and headers show).
import type { SimServer } from '../../src/sim/server.js'
import { simStats } from './sim.js'

export interface Reply {
  status: number
  headers: Headers
  text: string
  json: unknown
}

/** POSTs a chat completion (or `path`) and reads the whole answer. */
export async function post(
  base: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
  path = '/v1/chat/completions',
  signal?: AbortSignal
): Promise<Reply> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal,
  })
  const text = await res.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, text, json }
}

/** Requests each simulator has received so far. */
export async function received(sims: readonly SimServer[]): Promise<number[]> {
  return Promise.all(sims.map(async (s) => (await simStats(s)).received))
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)))
}
