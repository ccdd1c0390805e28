// `switchyard demo` (npm start): three simulators and the gateway in front of them, in one
// process, with copy-paste snippets, the admin API switched on, and keys to kill, hang and
// revive a simulator while live per-upstream counts show the traffic moving.
import { randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import { listUpstreams } from '../admin/upstreams-api.js'
import { formatKeyHash, generateKey } from '../auth/keys.js'
import { parseConfig } from '../config/load.js'
import { Gateway } from '../gateway.js'
import { createLogger } from '../observability/logger.js'
import { LiveBoard, renderBoard } from './demo-board.js'
import { DemoFleet } from './demo-fleet.js'
import { Traffic } from './demo-traffic.js'
import { installSignals } from './start.js'
import { ListenError, listenAs } from '../server/listen-error.js'

export interface DemoOptions {
  /** 0 = any free port. */
  port: number
  /** The first of three in a row; 0 = any free ports. */
  simPort: number
  /** Defaults to the gateway's port + 1 (any free one when the gateway's is 0). */
  adminPort?: number
  /** Require a key: one is made for the demo and printed in the snippets. */
  keys?: boolean
}

const MODEL = 'chat-small'
const KEYS = 'keys: k1 kill · h2 hang · r3 revive (any of sim 1-3) · t traffic on/off · q quit'

export async function runDemo(opts: DemoOptions): Promise<void> {
  const live = process.stdout.isTTY === true && process.stdin.isTTY === true
  const events: string[] = []
  const note = (line: string): void => {
    events.push(line)
    if (events.length > 4) events.shift()
    if (!live) console.log(line)
  }
  const fleet = await listenAs('--sim-port', '127.0.0.1', opts.simPort, () =>
    DemoFleet.start(3, opts.simPort, { model: 'sim-model', ttftMs: 150, tokensPerSecond: 40 })
  ).catch(exitOnListenError)
  // A fresh admin token per run, printed below, so the API and the dashboard work at once.
  // Set but empty counts as unset (`SWITCHYARD_ADMIN_TOKEN= npm start`).
  const chosen = process.env.SWITCHYARD_ADMIN_TOKEN
  const token = chosen !== undefined && chosen !== '' ? chosen : randomBytes(12).toString('base64url')
  const key = opts.keys === true ? generateKey() : undefined
  const config = parseConfig({
    ...(key !== undefined && { auth: { keys: [{ name: 'demo', hash: formatKeyHash(key) }] } }),
    server: { port: opts.port },
    admin: { port: opts.adminPort ?? (opts.port === 0 ? 0 : opts.port + 1), token },
    logging: { access_log: 'off' },
    models: [
      {
        name: MODEL,
        strategy: 'least-outstanding',
        upstreams: fleet.urls.map((url, i) => ({ url: `${url}/v1`, name: `sim-${i + 1}`, model: 'sim-model' })),
        // A hung simulator costs a client 5 s, then the request is retried elsewhere.
        timeouts: { first_token: '5s' },
        health: { interval: '1s', timeout: '500ms', healthy_threshold: 2, unhealthy_threshold: 2 },
      },
    ],
  })
  // On a terminal the process log goes to the live screen's event lines instead of stderr.
  const logger = live ? createLogger({ level: 'info', stream: { write: (line: string) => note(formatLogLine(line)) } }) : undefined
  const gateway = new Gateway(config, { logger })
  await gateway.start().catch(exitOnListenError)
  installSignals(gateway)
  process.once('exit', () => void fleet.close())
  printIntro(gateway, fleet, token, key)

  const traffic = new Traffic(gateway.url, MODEL, key)
  const run = (action: string): void => {
    const cmd = action.toLowerCase()
    if (cmd === 't') {
      if (traffic.on) void traffic.stop()
      else traffic.start()
      note(`traffic ${traffic.on ? 'on' : 'off'}`)
    } else if (cmd === 'q') {
      process.kill(process.pid, 'SIGINT')
    } else if (/^[khr][1-9]$/.test(cmd)) {
      fleet.command(cmd[0] as 'k' | 'h' | 'r', Number(cmd[1])).then(note, (err: unknown) => note(`${cmd}: ${String(err)}`))
    } else if (cmd !== '') {
      note(`unknown command '${action}'; ${KEYS}`)
    }
  }
  if (live) startLiveScreen(gateway, fleet, traffic, events, run)
  else readCommandLines(run)
}

/** The demo's options that choose each port. */
const OPTION_OF: Readonly<Record<string, string>> = { 'server.port': '--port', 'admin.port': '--admin-port' }

/** A port that cannot be had: one line naming it and the option that chose it, then exit 1. */
function exitOnListenError(err: unknown): never {
  if (!(err instanceof ListenError)) throw err
  const option = OPTION_OF[err.field]
  const field = option === undefined ? err.field : `${err.field} (${option})`
  console.error(`switchyard demo: ${field}: cannot listen on ${err.address}: ${err.reason}; choose another port (0 = any free one)`)
  process.exit(1)
}

function printIntro(gateway: Gateway, fleet: DemoFleet, token: string, key: string | undefined): void {
  const url = gateway.url
  const apiKey = key ?? 'none'
  const auth = key === undefined ? '' : ` -H 'authorization: Bearer ${key}'`
  console.log(`
Switchyard demo: gateway at ${url}/v1 in front of three simulated model servers
  ${fleet.urls.map((u, i) => `sim-${i + 1} ${u}`).join('\n  ')}
${key === undefined ? '' : `\nKeys are on. The demo key (only its hash is kept): ${key}\n`}
Try it (each answer's x-switchyard-upstream header names the server that answered):
  curl -si ${url}/v1/chat/completions -H 'content-type: application/json'${auth} \\
    -d '{"model":"${MODEL}","messages":[{"role":"user","content":"Hello"}]}'

  curl -N ${url}/v1/chat/completions -H 'content-type: application/json'${auth} \\
    -d '{"model":"${MODEL}","stream":true,"messages":[{"role":"user","content":"Hello"}]}'

Python:      from openai import OpenAI
             c = OpenAI(base_url="${url}/v1", api_key="${apiKey}")
             print(c.chat.completions.create(model="${MODEL}", messages=[{"role": "user", "content": "Hi"}]).choices[0].message.content)
TypeScript:  import OpenAI from 'openai'
             const c = new OpenAI({ baseURL: '${url}/v1', apiKey: '${apiKey}' })
             console.log((await c.chat.completions.create({ model: '${MODEL}', messages: [{ role: 'user', content: 'Hi' }] })).choices[0].message.content)

Live dashboard: ${gateway.admin.url}/   (admin token: ${token}; set SWITCHYARD_ADMIN_TOKEN to choose it)
Admin API:
  curl -s ${gateway.admin.url}/admin/upstreams -H 'authorization: Bearer ${token}'
  curl -s -X POST ${gateway.admin.url}/admin/upstreams/sim-2/drain -H 'authorization: Bearer ${token}'

${process.stdout.isTTY === true && process.stdin.isTTY === true ? KEYS : `Commands on stdin, one a line: ${KEYS.slice(6)}`}
Ctrl-C stops everything.
`)
}

function startLiveScreen(gateway: Gateway, fleet: DemoFleet, traffic: Traffic, events: readonly string[], run: (cmd: string) => void): void {
  const board = new LiveBoard(process.stdout)
  const draw = (): void =>
    board.draw(
      renderBoard(
        {
          upstreams: listUpstreams(gateway),
          condition: (name) => fleet.condition(name),
          traffic,
          events,
          keys: KEYS,
        },
        true
      )
    )
  const timer = setInterval(draw, 500)
  traffic.start()
  draw()
  process.stdout.write('\x1b[?25l') // hide the cursor while the board redraws
  const restore = (): void => {
    clearInterval(timer)
    process.stdout.write('\x1b[?25h')
    if (process.stdin.isTTY) process.stdin.setRawMode(false)
  }
  process.once('exit', restore)
  process.once('SIGINT', () => {
    restore()
    void traffic.stop()
    console.log('\nStopping: requests in flight finish first (Ctrl-C again exits at once).')
  })
  process.once('SIGTERM', restore)
  process.stdin.setRawMode(true)
  let pending = ''
  process.stdin.setEncoding('utf8').on('data', (keys: string) => {
    for (const key of keys) {
      if (key === '\u0003') {
        process.kill(process.pid, 'SIGINT')
        return
      }
      if (pending !== '') {
        run(pending + key)
        pending = ''
      } else if ('khr'.includes(key.toLowerCase())) {
        pending = key
      } else if (key.trim() !== '') {
        run(key)
      }
    }
  })
}

/** Without a terminal (CI, a pipe), commands come one a line; no stdin at all is fine too. */
function readCommandLines(run: (cmd: string) => void): void {
  try {
    const lines = createInterface({ input: process.stdin, terminal: false })
    lines.on('line', (line) => line.trim().split(/\s+/).forEach(run))
    lines.on('error', () => undefined)
  } catch {
    // No usable stdin: the demo runs without commands.
  }
}

/** A pino JSON line → "12:00:01 message key=value …" for the live screen. */
function formatLogLine(line: string): string {
  try {
    const { time, msg, level: _level, ...rest } = JSON.parse(line) as Record<string, unknown>
    const fields = Object.entries(rest)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ')
    return `${String(time).slice(11, 19)} ${String(msg)} ${fields}`.trimEnd()
  } catch {
    return line.trim()
  }
}
