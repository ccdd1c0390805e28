// The demo's simulators, each of which can be killed (its port closed, its connections cut),
// hung (it accepts requests and never answers) and revived.
import { startSim, type SimOptions, type SimServer } from '../sim/server.js'

export type SimCondition = 'up' | 'killed' | 'hung'

interface DemoSim {
  readonly name: string
  readonly options: SimOptions & { port: number }
  server: SimServer | undefined
  condition: SimCondition
}

export class DemoFleet {
  private readonly sims: DemoSim[] = []

  /** Starts `count` simulators on consecutive ports from `firstPort` (0: any free ones). */
  static async start(count: number, firstPort: number, options: SimOptions): Promise<DemoFleet> {
    const fleet = new DemoFleet()
    for (let i = 0; i < count; i++) {
      const name = `sim-${i + 1}`
      const server = await startSim({ ...options, port: firstPort === 0 ? 0 : firstPort + i, name, seed: i + 1 })
      // A revived simulator comes back on the port it had.
      fleet.sims.push({ name, options: { ...options, port: server.port, name, seed: i + 1 }, server, condition: 'up' })
    }
    return fleet
  }

  get size(): number {
    return this.sims.length
  }

  /** Base URLs (no /v1), in order. */
  get urls(): string[] {
    return this.sims.map((s) => `http://${s.options.host ?? '127.0.0.1'}:${s.options.port}`)
  }

  condition(name: string): SimCondition | undefined {
    return this.sims.find((s) => s.name === name)?.condition
  }

  /** Runs one command (k1 kill, h2 hang, r3 revive); returns what happened, for the screen. */
  async command(action: 'k' | 'h' | 'r', n: number): Promise<string> {
    const sim = this.sims[n - 1]
    if (sim === undefined) return `there is no sim-${n}`
    switch (action) {
      case 'k':
        if (sim.condition === 'killed') return `${sim.name} is already down`
        await sim.server?.close()
        sim.server = undefined
        sim.condition = 'killed'
        return `${sim.name} killed: its port is closed and its connections cut`
      case 'h':
        if (sim.server === undefined) return `${sim.name} is down; revive it first`
        await setFault(sim.server, 'hang')
        sim.condition = 'hung'
        return `${sim.name} hangs: it accepts requests and never answers`
      case 'r':
        if (sim.server === undefined) sim.server = await startSim(sim.options)
        else await setFault(sim.server, 'ok')
        sim.condition = 'up'
        return `${sim.name} revived`
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.sims.flatMap((s) => (s.server === undefined ? [] : [s.server.close()])))
  }
}

async function setFault(sim: SimServer, mode: 'ok' | 'hang'): Promise<void> {
  const res = await fetch(`${sim.url}/sim/fault`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ mode }),
  })
  await res.arrayBuffer()
}
