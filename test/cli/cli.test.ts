// The command line end to end: real `switchyard` processes.
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import OpenAI from 'openai'
import { afterAll, describe, expect, it } from 'vitest'
import { CLI } from '../helpers/gateway-process.js'
import { makeCert } from '../helpers/tls-cert.js'

const run = promisify(execFile)
const started: { kill: () => void }[] = []
afterAll(() => {
  for (const p of started) p.kill()
})

/** Runs a command to its end; one still running after `timeout` ms is killed (SIGTERM). */
async function cli(args: string[], cwd?: string, timeout = 0): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd, timeout })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

/** Runs a long-lived command until a line matches, returning the match and the process. */
function spawnUntil(
  args: string[],
  pattern: RegExp,
  env: NodeJS.ProcessEnv = process.env
): Promise<{ match: RegExpExecArray; stop: () => Promise<number | null> }> {
  // In a directory of its own: the demo writes its store (./switchyard.db) where it runs.
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env, cwd: mkdtempSync(join(tmpdir(), 'switchyard-cli-')) })
  started.push({ kill: () => proc.exitCode === null && proc.kill('SIGKILL') })
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)))
  let text = ''
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer): void => {
      text += d.toString()
      const m = pattern.exec(text)
      if (m) resolve({ match: m, stop: () => (proc.kill('SIGINT'), exited) })
    }
    proc.stdout.on('data', onData)
    proc.stderr.on('data', onData)
    proc.once('exit', (code) => reject(new Error(`exited ${code}: ${text}`)))
  })
}

describe('switchyard CLI', () => {
  it('--help lists every command, and each command explains its options', async () => {
    const top = await cli(['--help'])
    expect(top.code).toBe(0)
    for (const c of ['start', 'validate', 'init', 'sim', 'demo']) expect(top.stdout).toContain(c)
    const sim = await cli(['sim', '--help'])
    for (const o of ['--port', '--model', '--ttft', '--tokens-per-second', '--max-concurrency', '--seed']) {
      expect(sim.stdout).toContain(o)
    }
    expect((await cli(['start', '--help'])).stdout).toContain('--config')
  })

  it('init writes a starter config that validates, and will not overwrite it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-cli-'))
    const first = await cli(['init'], dir)
    expect(first.code).toBe(0)
    const text = await readFile(join(dir, 'switchyard.yaml'), 'utf8')
    expect(text).toContain('models:')
    expect(text).toMatch(/^#/)
    expect((await cli(['init'], dir)).code).toBe(1)
    expect((await cli(['init', '--force'], dir)).code).toBe(0)
    // A directory that does not exist: one line, no stack trace.
    const nowhere = await cli(['init', '--config', 'no/such/dir/x.yaml'], dir)
    expect(nowhere.code).toBe(1)
    expect(nowhere.stderr.trim()).toBe('switchyard init: cannot write no/such/dir/x.yaml: its directory does not exist')
    const valid = await cli(['validate'], dir)
    expect(valid.code).toBe(0)
    expect(valid.stdout).toContain('valid')
  })

  it('validate exits 1 naming each bad field by its path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-cli-'))
    const file = join(dir, 'bad.yaml')
    await writeFile(
      file,
      'models:\n  - name: a\n    upstreams: [{ url: "http://127.0.0.1:1/v1" }]\n  - name: b\n    upstreams:\n      - url: not-a-url\n'
    )
    const r = await cli(['validate', '--config', file])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('models[1].upstreams[0].url: must be an http(s) URL')
  })

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    const r = await cli(['--version'])
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe(pkg.version)
  })

  it('usage and keys refuse a --config that does not exist (not the defaults)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-cli-'))
    // A store at the default path, which a silent fallback would report from.
    await writeFile(join(dir, 'switchyard.db'), '')
    const missing = join(dir, 'missing.yaml')
    for (const args of [['usage'], ['keys', 'list'], ['keys', 'create', '--name', 'x'], ['keys', 'revoke', 'x']]) {
      const r = await cli([...args, '--config', missing], dir)
      expect(r.code, args.join(' ')).toBe(1)
      expect(r.stdout, args.join(' ')).toBe('')
      expect(r.stderr, args.join(' ')).toContain(`${missing}:\n  file not found`)
    }
  })

  it('usage names a usage file that is not a database in one line, exit 1', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-cli-'))
    await writeFile(join(dir, 'switchyard.yaml'), 'usage: { sqlite: ./junk.db }\nmodels:\n  - name: m\n    upstreams: [{ url: "http://127.0.0.1:1/v1" }]\n')
    for (const junk of ['garbage\n', 'SQLite format 3\u0000garbage']) {
      await writeFile(join(dir, 'junk.db'), junk)
      const r = await cli(['usage', '--by', 'key'], dir, 10_000)
      expect(r.code).toBe(1)
      expect(r.stdout).toBe('')
      expect(r.stderr).toMatch(/^switchyard: cannot read usage from \.\/junk\.db: .*not a database/)
      expect(r.stderr).not.toMatch(/\n\s+at /)
    }
  })

  it('validate runs the checks start makes when it opens files: TLS pair, store and usage paths', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-cli-'))
    const a = await makeCert(dir, 'a')
    const b = await makeCert(dir, 'b')
    const model = 'models:\n  - name: m\n    upstreams: [{ url: "http://127.0.0.1:1/v1" }]\n'
    const validate = async (yaml: string): Promise<{ code: number; stdout: string; stderr: string }> => {
      const file = join(dir, 'c.yaml')
      await writeFile(file, yaml + model)
      return cli(['validate', '--config', file], dir)
    }
    const good = await validate(
      `server: { tls: { cert: ${a.certFile}, key: ${a.keyFile} } }\nstore: { sqlite: ${join(dir, 'k.db')} }\nusage: { sqlite: ${join(dir, 'u.db')} }\n`
    )
    expect(good.stderr).toBe('')
    expect(good.code).toBe(0)

    const bad = await validate(
      `server: { tls: { cert: ${join(dir, 'nope.pem')}, key: ${a.keyFile} } }\n` +
        `store: { sqlite: /nonexistent/dir/k.db }\nusage: { sqlite: ${dir} }\n`
    )
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain(`server.tls.cert: cannot read ${join(dir, 'nope.pem')} (ENOENT)`)
    expect(bad.stderr).toContain('store.sqlite: cannot open /nonexistent/dir/k.db: directory /nonexistent/dir does not exist')
    expect(bad.stderr).toContain(`usage.sqlite: cannot open ${dir}: it is a directory`)

    // Neither file readable: both named.
    const neither = await validate(`server: { tls: { cert: ${join(dir, 'nope.pem')}, key: ${join(dir, 'nokey.pem')} } }\nusage: { sqlite: ${join(dir, 'u2.db')} }\n`)
    expect(neither.code).toBe(1)
    expect(neither.stderr).toContain(`server.tls.cert: cannot read ${join(dir, 'nope.pem')} (ENOENT)`)
    expect(neither.stderr).toContain(`server.tls.key: cannot read ${join(dir, 'nokey.pem')} (ENOENT)`)

    const mismatched = await validate(`server: { tls: { cert: ${a.certFile}, key: ${b.keyFile} } }\nusage: { sqlite: /nonexistent/dir/u.db }\n`)
    expect(mismatched.code).toBe(1)
    expect(mismatched.stderr).toContain('server.tls: the certificate and key are not usable together')
    expect(mismatched.stderr).toContain('usage.sqlite: cannot open /nonexistent/dir/u.db: directory /nonexistent/dir does not exist')
  })

  it('start refuses a usage.sqlite it cannot open, naming the field, as validate does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-cli-'))
    await writeFile(
      join(dir, 'switchyard.yaml'),
      'server: { port: 0 }\nadmin: { port: 0 }\nusage: { sqlite: /nonexistent/dir/u.db }\nmodels:\n  - name: m\n    upstreams: [{ url: "http://127.0.0.1:1/v1" }]\n'
    )
    const issue = 'usage.sqlite: cannot open /nonexistent/dir/u.db: directory /nonexistent/dir does not exist'
    const start = await cli(['start'], dir, 4000)
    expect(start.code).toBe(1)
    expect(start.stderr).toContain(issue)
    expect(start.stderr).not.toMatch(/\n\s+at /)
    expect((await cli(['validate'], dir)).stderr).toContain(issue)
  })

  it('start refuses an access_log it cannot open, in one line naming the field, as validate does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-cli-'))
    const notDir = join(dir, 'plain-file')
    await writeFile(notDir, 'x')
    const model = 'models:\n  - name: m\n    upstreams: [{ url: "http://127.0.0.1:1/v1" }]\n'
    for (const [path, why] of [
      [join(notDir, 'a.log'), `${notDir} is not a directory`],
      [join(notDir, 'sub', 'a.log'), `${notDir} is not a directory`],
      [dir, 'it is a directory'],
    ] as const) {
      await writeFile(join(dir, 'switchyard.yaml'), `server: { port: 0 }\nadmin: { port: 0 }\nusage: { enabled: false }\nlogging: { access_log: ${path} }\n${model}`)
      expect((await cli(['validate'], dir)).stderr).toContain(`logging.access_log: cannot open ${path}: ${why}`)
      const start = await cli(['start'], dir, 4000)
      expect(start.code).toBe(1)
      expect(start.stderr).toContain(`logging.access_log: cannot open ${path}`)
      expect(start.stderr).not.toMatch(/\n\s+at /)
    }
    // Under /proc no directory can be made: Node's recursive mkdir never returned there, and
    // the start hung (spinning, deaf to SIGTERM).
    await writeFile(join(dir, 'switchyard.yaml'), `server: { port: 0 }\nadmin: { port: 0 }\nusage: { enabled: false }\nlogging: { access_log: /proc/switchyard-nope/a.log }\n${model}`)
    const proc = await cli(['start'], dir, 4000)
    expect(proc.code).toBe(1)
    expect(proc.stderr).toContain('logging.access_log: cannot open /proc/switchyard-nope/a.log')
    // A directory that is not there yet is made.
    await writeFile(join(dir, 'switchyard.yaml'), `usage: { enabled: false }\nlogging: { access_log: ${join(dir, 'logs', 'day', 'a.log')} }\n${model}`)
    expect(await cli(['validate'], dir)).toMatchObject({ code: 0, stderr: '' })
  })

  it('start and demo name a busy port by its field in one line, exit 1', async () => {
    const busy = createServer()
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r))
    const port = (busy.address() as AddressInfo).port
    try {
      const dir = await mkdtemp(join(tmpdir(), 'switchyard-cli-'))
      const cert = await makeCert(dir, 'busy')
      const model = 'models:\n  - name: m\n    upstreams: [{ url: "http://127.0.0.1:1/v1" }]\n'
      const cases: [string, string][] = [
        ['server.port', `server: { port: ${port} }\nadmin: { port: 0 }\n`],
        ['admin.port', `server: { port: 0 }\nadmin: { port: ${port} }\n`],
        [
          'server.redirect_http_port',
          `server: { port: 0, redirect_http_port: ${port}, tls: { cert: ${cert.certFile}, key: ${cert.keyFile} } }\nadmin: { port: 0 }\n`,
        ],
      ]
      for (const [field, yaml] of cases) {
        await writeFile(join(dir, 'switchyard.yaml'), `${yaml}logging: { access_log: off }\nusage: { enabled: false }\n${model}`)
        const r = await cli(['start'], dir, 10_000)
        expect(r.code, field).toBe(1)
        expect(r.stderr, field).toContain(`switchyard: ${field}: cannot listen on 127.0.0.1:${port}: address already in use\n`)
        expect(r.stderr, field).not.toMatch(/\n\s+at /)
      }
      for (const [option, args] of [
        ['server.port (--port)', ['--port', String(port), '--sim-port', '0', '--admin-port', '0']],
        ['admin.port (--admin-port)', ['--port', '0', '--sim-port', '0', '--admin-port', String(port)]],
        ['--sim-port', ['--port', '0', '--sim-port', String(port)]],
      ] as const) {
        const r = await cli(['demo', ...args], dir, 10_000)
        expect(r.code, option).toBe(1)
        expect(r.stderr, option).toContain(`switchyard demo: ${option}: cannot listen on 127.0.0.1:${port}: address already in use`)
        expect(r.stderr, option).not.toMatch(/\n\s+at /)
      }
    } finally {
      busy.close()
    }
  })

  it('start without a config says how to get one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-cli-'))
    const r = await cli(['start'], dir)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('npx switchyard init')
  })

  it('start with an invalid config exits 1 with the field path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-cli-'))
    await writeFile(join(dir, 'switchyard.yaml'), 'models: []\n')
    const r = await cli(['start'], dir)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('models: needs at least one model')
  })

  it('sim serves OpenAI-compatible requests on the port it prints', async () => {
    const { match, stop } = await spawnUntil(['sim', '--port', '0', '--ttft', '0ms', '--model', 'tiny'], /at (http:\/\/[\d.:]+)\/v1/)
    const client = new OpenAI({ baseURL: `${match[1]}/v1`, apiKey: 'x' })
    const models = await client.models.list()
    expect(models.data[0]!.id).toBe('tiny')
    expect(await stop()).toBe(0)
  })

  it('demo runs three simulators behind the gateway and stops cleanly', async () => {
    const { match, stop } = await spawnUntil(['demo', '--port', '0', '--sim-port', '0'], /gateway at (http:\/\/[\d.:]+)\/v1/)
    const client = new OpenAI({ baseURL: `${match[1]}/v1`, apiKey: 'none' })
    const seen = new Set<string>()
    for (let i = 0; i < 30; i++) {
      const { response } = await client.chat.completions
        .create({ model: 'chat-small', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 2 })
        .withResponse()
      seen.add(response.headers.get('x-switchyard-upstream')!)
    }
    expect(seen.size).toBe(3)
    expect(await stop()).toBe(0)
  })

  it('demo takes an empty SWITCHYARD_ADMIN_TOKEN as unset and makes one', async () => {
    const env = { ...process.env, SWITCHYARD_ADMIN_TOKEN: '' }
    const { match, stop } = await spawnUntil(['demo', '--port', '0', '--sim-port', '0', '--admin-port', '0'], /admin token: (\S+?)[;)]/, env)
    expect(match[1]!.length).toBeGreaterThanOrEqual(16)
    expect(await stop()).toBe(0)
  })
})
