// `switchyard demo` (npm start): three simulators and the gateway in front of them, in one
// process, with copy-paste snippets to try it.
import { randomBytes } from 'node:crypto'
import { parseConfig } from '../config/load.js'
import { Gateway } from '../gateway.js'
import { startSim, type SimServer } from '../sim/server.js'
import { installSignals } from './start.js'

export interface DemoOptions {
  port: number
  simPort: number
}

export async function runDemo(opts: DemoOptions): Promise<void> {
  const sims: SimServer[] = []
  for (let i = 0; i < 3; i++) {
    sims.push(
      await startSim({ port: opts.simPort === 0 ? 0 : opts.simPort + i, name: `sim-${i + 1}`, model: 'sim-model', ttftMs: 150, tokensPerSecond: 40, seed: i + 1 })
    )
  }
  // A fresh admin token per run, printed below, so the dashboard can be opened at once.
  const adminToken = randomBytes(12).toString('base64url')
  const config = parseConfig({
    server: { port: opts.port },
    // Beside the gateway's port; any free one when the gateway's is.
    admin: { port: opts.port === 0 ? 0 : opts.port + 1, token: adminToken },
    logging: { access_log: 'off' },
    models: [
      {
        name: 'chat-small',
        strategy: 'least-outstanding',
        upstreams: sims.map((s, i) => ({ url: `${s.url}/v1`, name: `sim-${i + 1}`, model: 'sim-model' })),
      },
    ],
  })
  const gateway = new Gateway(config)
  await gateway.start()
  installSignals(gateway, undefined)
  process.once('exit', () => {
    for (const s of sims) void s.close()
  })
  const url = gateway.url
  console.log(`
Switchyard demo: gateway at ${url}/v1 in front of three simulated model servers
  ${sims.map((s, i) => `sim-${i + 1} ${s.url}`).join('\n  ')}

Try it (each answer's x-switchyard-upstream header names the server that answered):
  curl -si ${url}/v1/chat/completions -H 'content-type: application/json' \\
    -d '{"model":"chat-small","messages":[{"role":"user","content":"Hello"}]}'

  curl -N ${url}/v1/chat/completions -H 'content-type: application/json' \\
    -d '{"model":"chat-small","stream":true,"messages":[{"role":"user","content":"Hello"}]}'

Python:      from openai import OpenAI
             c = OpenAI(base_url="${url}/v1", api_key="none")
             print(c.chat.completions.create(model="chat-small", messages=[{"role": "user", "content": "Hi"}]).choices[0].message.content)
TypeScript:  import OpenAI from 'openai'
             const c = new OpenAI({ baseURL: '${url}/v1', apiKey: 'none' })
             console.log((await c.chat.completions.create({ model: 'chat-small', messages: [{ role: 'user', content: 'Hi' }] })).choices[0].message.content)

Live dashboard: ${gateway.admin.url}/   (admin token: ${adminToken})

Ctrl-C stops everything.
`)
}
