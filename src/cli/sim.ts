// `switchyard sim`: one simulator in the foreground until Ctrl-C.
import { startSim } from '../sim/server.js'

export interface SimCliOptions {
  port: number
  host: string
  model: string
  ttft: number
  tokensPerSecond: number
  maxConcurrency: number
  seed: number
  name?: string
}

export async function runSim(opts: SimCliOptions): Promise<void> {
  const sim = await startSim({
    port: opts.port,
    host: opts.host,
    model: opts.model,
    ttftMs: opts.ttft,
    tokensPerSecond: opts.tokensPerSecond,
    maxConcurrency: opts.maxConcurrency,
    seed: opts.seed,
    name: opts.name,
  })
  console.log(`switchyard sim: ${opts.model} at ${sim.url}/v1 (faults: POST ${sim.url}/sim/fault)`)
  const stop = (): void => {
    void sim.close().then(() => process.exit(0))
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}
