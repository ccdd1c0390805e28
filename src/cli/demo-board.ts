// The demo's live screen: per-upstream counts, what the clients saw, recent log lines and
// the keys, redrawn in place on a terminal.
import type { UpstreamView } from '../admin/upstreams-api.js'
import type { SimCondition } from './demo-fleet.js'
import type { TrafficCounts } from './demo-traffic.js'

export interface BoardState {
  readonly upstreams: readonly UpstreamView[]
  readonly condition: (name: string) => SimCondition | undefined
  readonly traffic: { readonly on: boolean; readonly concurrency: number; readonly counts: TrafficCounts }
  readonly events: readonly string[]
  readonly keys: string
}

const pad = (s: string | number, n: number): string => String(s).padEnd(n)
const num = (s: string | number, n: number): string => String(s).padStart(n)

const STATE_COLOUR: Record<string, string> = {
  healthy: '\x1b[32m',
  draining: '\x1b[33m',
  'cooling-down': '\x1b[33m',
  unhealthy: '\x1b[31m',
  ejected: '\x1b[31m',
}

export function renderBoard(s: BoardState, colour: boolean): string[] {
  const paint = (text: string, code: string | undefined): string => (colour && code !== undefined ? `${code}${text}\x1b[0m` : text)
  const lines = [` ${pad('upstream', 14)}${pad('state', 14)}${num('in flight', 9)}${num('requests', 10)}${num('failures', 10)}${num('latency', 10)}   simulator`]
  for (const u of s.upstreams) {
    const latency = u.latency_ewma_ms === 0 ? '-' : `${(u.latency_ewma_ms / 1000).toFixed(2)} s`
    const sim = s.condition(u.name) ?? ''
    lines.push(
      ` ${pad(u.name, 14)}${paint(pad(u.state, 14), STATE_COLOUR[u.state])}${num(u.inflight, 9)}${num(u.requests, 10)}${num(u.failures, 10)}${num(latency, 10)}   ${paint(sim, sim === 'up' ? undefined : '\x1b[31m')}`
    )
  }
  const c = s.traffic.counts
  lines.push(
    '',
    ` traffic ${s.traffic.on ? `on (${s.traffic.concurrency} clients)` : 'off'}: ${c.ok} ok · ${c.broken} cut mid-stream · ${c.failed} failed`
  )
  for (const e of s.events) lines.push(`   ${e}`)
  lines.push(` ${s.keys}`)
  return lines
}

/** Redraws a block of lines at the bottom of a terminal. */
export class LiveBoard {
  private drawn = 0

  constructor(private readonly out: NodeJS.WriteStream) {}

  draw(lines: readonly string[]): void {
    const width = Math.max(20, (this.out.columns ?? 100) - 1)
    // Only plain lines are cut: slicing a coloured one could cut an escape sequence in half.
    const fitted = lines.map((l) => (l.length > width && visibleLength(l) === l.length ? `${l.slice(0, width - 1)}…` : l))
    // Up to the first line drawn last time, clear to the end of the screen, draw again.
    const up = this.drawn > 0 ? `\x1b[${this.drawn}F` : ''
    this.out.write(`${up}\x1b[J${fitted.join('\n')}\n`)
    this.drawn = fitted.length
  }
}

function visibleLength(s: string): number {
   
  return s.replace(/\x1b\[[0-9;]*m/g, '').length
}
