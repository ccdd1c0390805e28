// ConfigReloader: file changes (write and rename-over), invalid files, restart-only fields.
import { mkdtemp, rename, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { afterEach, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { ConfigReloader, restartRequired, type ReloadTarget } from '../../src/config/reload.js'
import type { Config, ConfigInput } from '../../src/config/schema.js'
import { createLogger } from '../../src/observability/logger.js'
import { eventually } from '../helpers/sim.js'

const raw = (port = 8080, url = 'http://127.0.0.1:9001/v1'): ConfigInput => ({
  server: { port },
  models: [{ name: 'm', upstreams: [{ url }] }],
})

class Target implements ReloadTarget {
  applied: Config[] = []
  lines: Record<string, unknown>[] = []
  readonly log = createLogger({ level: 'info', stream: { write: (l: string) => void this.lines.push(JSON.parse(l) as Record<string, unknown>) } })
  constructor(public config: Config) {}
  async prime(): Promise<void> {}
  apply(config: Config): void {
    this.config = config
    this.applied.push(config)
  }
}

let reloader: ConfigReloader | undefined
afterEach(() => reloader?.close())

async function setup(debounceMs = 50) {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-reload-'))
  const file = join(dir, 'switchyard.yaml')
  await writeFile(file, stringify(raw()))
  const target = new Target(parseConfig(raw()))
  reloader = new ConfigReloader(target, file, { debounceMs })
  await reloader.start()
  return { dir, file, target, reloader }
}

describe('ConfigReloader', () => {
  it('reloads when the file is written, once per burst of writes', async () => {
    const { file, target, reloader } = await setup()
    await writeFile(file, stringify(raw(8080, 'http://127.0.0.1:9002/v1')))
    await writeFile(file, stringify(raw(8080, 'http://127.0.0.1:9003/v1')))
    await eventually(() => target.applied.length === 1)
    await new Promise((r) => setTimeout(r, 150))
    expect(target.applied).toHaveLength(1)
    expect(target.config.models[0]!.upstreams[0]!.url).toBe('http://127.0.0.1:9003/v1')
    expect(reloader.reloads).toBe(1)
    expect(reloader.last).toMatchObject({ trigger: 'file', ok: true })
  })

  it('reloads when an editor replaces the file by rename', async () => {
    const { dir, file, target } = await setup()
    const tmp = join(dir, '.switchyard.yaml.swp')
    await writeFile(tmp, stringify(raw(8080, 'http://127.0.0.1:9004/v1')))
    await rename(tmp, file)
    await eventually(() => target.applied.length === 1)
    expect(target.config.models[0]!.upstreams[0]!.url).toBe('http://127.0.0.1:9004/v1')
  })

  it('ignores events that leave the content as it was', async () => {
    const { file, target, reloader } = await setup()
    await writeFile(file, stringify(raw()))
    await new Promise((r) => setTimeout(r, 250))
    expect(target.applied).toHaveLength(0)
    expect(reloader.reloads).toBe(0)
  })

  it('rejects an invalid file, logs each problem by path, and keeps the old config', async () => {
    const { file, target, reloader } = await setup()
    const before = target.config
    await writeFile(file, stringify({ models: [{ name: 'm', upstreams: [{ url: 'ftp://x' }], strategy: 'nope' }] }))
    await eventually(() => reloader.failures === 1)
    expect(target.config).toBe(before)
    const line = target.lines.find((l) => l.msg === 'config reload rejected; the previous config keeps serving')!
    expect(line.issues).toEqual(expect.arrayContaining(['models[0].upstreams[0].url: must be an http(s) URL', expect.stringMatching(/^models\[0\]\.strategy: must be one of/)]))
    expect(reloader.last).toMatchObject({ ok: false, trigger: 'file' })
    // Fixing the file recovers.
    await writeFile(file, stringify(raw(8080, 'http://127.0.0.1:9005/v1')))
    await eventually(() => target.applied.length === 1)
  })

  it('reports listener settings as needing a restart, against the config it started with', async () => {
    const { file, target, reloader } = await setup()
    await writeFile(file, stringify(raw(9999)))
    const result = await reloader.reload('admin')
    expect(result).toEqual({ ok: true, changed: true, restartRequired: ['server.port'] })
    expect(target.lines.some((l) => String(l.msg).includes('only after a restart'))).toBe(true)
    await writeFile(file, stringify(raw(9999, 'http://127.0.0.1:9006/v1')))
    expect((await reloader.reload('signal')).ok).toBe(true)
    expect(reloader.pendingRestart).toEqual(['server.port'])
  })

  it('restartRequired lists exactly the fields bound at start', () => {
    const a = parseConfig(raw())
    const b = parseConfig({ ...raw(), admin: { port: 9, host: '0.0.0.0' }, logging: { level: 'debug', access_log: 'off' } })
    expect(restartRequired(a, b)).toEqual(['admin.host', 'admin.port', 'logging.access_log'])
  })

  it('restartRequired lists the metrics, usage, tracing, store and Redis settings, which are read at start', () => {
    const a = parseConfig(raw())
    const b = parseConfig({
      ...raw(),
      metrics: { enabled: false },
      usage: { enabled: false, sqlite: './other.db', postgres: 'postgres://u@h/db', retention: '7d', flush_interval: '2s', batch_size: 10, buffer: 100 },
      tracing: { otlp_endpoint: 'http://collector:4318', service_name: 'gw', headers: { a: '1' }, sample_ratio: 0.5 },
      store: { sqlite: './keys.db' },
      state: { redis: 'redis://r:6379', prefix: 'x:', timeout: '1s', on_error: 'closed' },
    })
    expect(restartRequired(a, b)).toEqual([
      'metrics.enabled',
      'usage.enabled',
      'usage.sqlite',
      'usage.postgres',
      'usage.retention',
      'usage.flush_interval',
      'usage.batch_size',
      'usage.buffer',
      'tracing.otlp_endpoint',
      'tracing.service_name',
      'tracing.headers',
      'tracing.sample_ratio',
      'store.sqlite',
      'state.redis',
      'state.prefix',
      'state.timeout',
    ])
    // An absent tracing section is its defaults; header order and state.on_error (live) are no change.
    expect(restartRequired(a, parseConfig({ ...raw(), tracing: { otlp_endpoint: '', sample_ratio: 1 }, state: { on_error: 'closed' } }))).toEqual([])
    const h1 = parseConfig({ ...raw(), tracing: { headers: { a: '1', b: '2' } } })
    expect(restartRequired(h1, parseConfig({ ...raw(), tracing: { headers: { b: '2', a: '1' } } }))).toEqual([])
  })

  it('restartRequired: the redirect listener and TLS on or off need a restart; limits and new certificate files do not', () => {
    const tls = { cert: 'a.pem', key: 'a.key' }
    const plain = parseConfig(raw())
    const secure = parseConfig({ ...raw(), server: { port: 8080, tls } })
    expect(restartRequired(plain, secure)).toEqual(['server.tls'])
    expect(restartRequired(secure, plain)).toEqual(['server.tls'])
    const redirect = parseConfig({ ...raw(), server: { port: 8080, tls, redirect_http_port: 8079 } })
    expect(restartRequired(secure, redirect)).toEqual(['server.redirect_http_port'])
    const live = parseConfig({
      ...raw(),
      server: { port: 8080, tls: { cert: 'b.pem', key: 'b.key' }, keep_alive_timeout: '5s', headers_timeout: '1s', request_timeout: '2s', max_header_size: '4KiB', max_connections: 5, max_connections_per_ip: 2 },
    })
    expect(restartRequired(secure, live)).toEqual([])
  })
})
