// Hot reload: SIGHUP, a change of the config file (watched through its directory, since
// editors and Kubernetes ConfigMaps replace files by rename) or POST /admin/config/reload →
// load → validate → apply. A valid config replaces the old at once for new requests while
// in-flight ones finish on the snapshot they started with; an invalid one is rejected with
// every problem logged by its field path, and the old one keeps serving.
import { createHash } from 'node:crypto'
import { watch, type FSWatcher } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import type { Logger } from '../observability/logger.js'
import { ConfigError, parseConfigText } from './load.js'
import type { Config } from './schema.js'

/** What a reload acts on (the Gateway). */
export interface ReloadTarget {
  readonly config: Config
  readonly log: Logger
  /** Async preparation before the swap (first DNS answers for new discovery hosts). */
  prime(config: Config): Promise<void>
  /** Swaps the config in; synchronous, so no request sees half of it. */
  apply(config: Config): void
  /** Told of every rejected reload (the metrics count them). */
  reloadRejected?(): void
}

export type ReloadTrigger = 'signal' | 'file' | 'admin'

export interface ReloadRecord {
  readonly at: string
  readonly trigger: ReloadTrigger
  readonly ok: boolean
  /** Why it was rejected, each as `path: message`. */
  readonly issues?: readonly string[]
}

export type ReloadResult =
  | { readonly ok: true; readonly changed: boolean; readonly restartRequired: readonly string[] }
  | { readonly ok: false; readonly issues: readonly string[] }

export interface ReloaderOptions {
  /** Watch the file and reload when its content changes. Defaults to true. */
  readonly watch?: boolean
  /** Quiet time after the last file event before reloading (editors write in bursts). Defaults to 200 ms. */
  readonly debounceMs?: number
  /** Reload on this signal (the CLI passes SIGHUP; in-process gateways leave it off). */
  readonly signal?: NodeJS.Signals
  readonly env?: NodeJS.ProcessEnv
}

type Changed = (a: unknown, b: unknown) => boolean
const differs: Changed = (a, b) => a !== b
/** Turning it on or off: the listener is another kind. New files are read live (Gateway.reloadTls). */
const onOrOff: Changed = (a, b) => (a === undefined) !== (b === undefined)
/** A field of an optional section: absent compares as its default. */
const orDefault =
  (fallback: unknown): Changed =>
  (a, b) =>
    (a ?? fallback) !== (b ?? fallback)
/** A string map (tracing.headers): the same entries in any order are no change. */
const entries: Changed = (a, b) => canonical(a) !== canonical(b)
function canonical(map: unknown): string {
  return JSON.stringify(Object.entries((map ?? {}) as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
}

/**
 * Settings bound when the process starts: a reload cannot change them live. The other
 * server.* limits reach the listeners through Listener.update / RedirectListener.update.
 */
const RESTART_FIELDS: readonly (readonly [keyof Config, string, Changed])[] = [
  ['server', 'host', differs],
  ['server', 'port', differs],
  ['server', 'redirect_http_port', differs],
  ['server', 'tls', onOrOff],
  // The SETTINGS frame's SETTINGS_MAX_CONCURRENT_STREAMS, fixed when the server is made.
  ['server', 'http2_max_streams', differs],
  ['admin', 'host', differs],
  ['admin', 'port', differs],
  ['logging', 'access_log', differs],
  // Metrics, the usage recorder and its store, and the span exporter are made at start (gateway.ts).
  ['metrics', 'enabled', differs],
  ['usage', 'enabled', differs],
  ['usage', 'sqlite', differs],
  ['usage', 'postgres', differs],
  ['usage', 'retention', differs],
  ['usage', 'flush_interval', differs],
  ['usage', 'batch_size', differs],
  ['usage', 'buffer', differs],
  ['tracing', 'otlp_endpoint', orDefault('')],
  ['tracing', 'service_name', differs],
  ['tracing', 'headers', entries],
  ['tracing', 'sample_ratio', orDefault(1)],
  // The key store and the rate-limit store are opened at start (auth/gatekeeper.ts);
  // state.on_error is read per request and changes live.
  ['store', 'sqlite', differs],
  ['state', 'redis', differs],
  ['state', 'prefix', differs],
  ['state', 'timeout', differs],
]

/** The fields whose new value only takes effect after a restart, as `server.port`. */
export function restartRequired(running: Config, next: Config): string[] {
  return RESTART_FIELDS.filter(([section, key, changed]) => {
    const a = running[section] as Record<string, unknown> | undefined
    const b = next[section] as Record<string, unknown> | undefined
    return changed(a?.[key], b?.[key])
  }).map(([section, key]) => `${section}.${key}`)
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

export class ConfigReloader {
  reloads = 0
  failures = 0
  last: ReloadRecord | undefined = undefined
  /** Fields changed in the file since start that wait for a restart. */
  pendingRestart: readonly string[] = []
  /** The config the process started with: its listeners are bound to it. */
  private readonly booted: Config
  /** Digest of the file content last read, so a watch event without a change does nothing. */
  private digest: string | undefined
  private watcher: FSWatcher | undefined
  private debounce: NodeJS.Timeout | undefined
  private queue: Promise<unknown> = Promise.resolve()
  private readonly onSignal = (): void => void this.reload('signal')

  constructor(
    private readonly target: ReloadTarget,
    readonly file: string,
    private readonly options: ReloaderOptions = {}
  ) {
    this.booted = target.config
  }

  async start(): Promise<void> {
    try {
      this.digest = sha256(await readFile(this.file, 'utf8'))
    } catch {
      // Not readable now: the first change event will tell.
    }
    if (this.options.watch !== false) this.watch()
    if (this.options.signal !== undefined) process.on(this.options.signal, this.onSignal)
  }

  close(): void {
    clearTimeout(this.debounce)
    this.watcher?.close()
    this.watcher = undefined
    if (this.options.signal !== undefined) process.off(this.options.signal, this.onSignal)
  }

  /** Loads and applies the file now; reloads run one at a time, in order. */
  reload(trigger: ReloadTrigger): Promise<ReloadResult> {
    const run = this.queue.then(() => this.run(trigger))
    this.queue = run.catch(() => undefined)
    return run
  }

  private watch(): void {
    const name = basename(this.file)
    try {
      // The directory, not the file: a rename-over replaces the inode a file watch would hold.
      this.watcher = watch(dirname(this.file), { persistent: false }, (_event, changed) => {
        // `..data` is how a Kubernetes ConfigMap volume swaps its files in.
        if (changed === null || changed === name || changed.startsWith('..')) this.schedule()
      })
      this.watcher.on('error', (err) => {
        this.target.log.warn({ file: this.file, err: String(err) }, 'config file watch failed; SIGHUP still reloads')
        this.watcher?.close()
        this.watcher = undefined
      })
    } catch (err) {
      this.target.log.warn({ file: this.file, err: String(err) }, 'cannot watch the config file; SIGHUP still reloads')
    }
  }

  private schedule(): void {
    clearTimeout(this.debounce)
    this.debounce = setTimeout(() => void this.reload('file'), this.options.debounceMs ?? 200)
    this.debounce.unref()
  }

  private async run(trigger: ReloadTrigger): Promise<ReloadResult> {
    const log = this.target.log
    let text: string
    try {
      text = await readFile(this.file, 'utf8')
    } catch (err) {
      // Mid-rename the file can be missing for a moment; the next event brings it back.
      if (trigger === 'file') return { ok: true, changed: false, restartRequired: this.pendingRestart }
      return this.reject(trigger, [`${this.file}: cannot read: ${String(err)}`])
    }
    const digest = sha256(text)
    if (trigger === 'file' && digest === this.digest) return { ok: true, changed: false, restartRequired: this.pendingRestart }
    this.digest = digest
    let config: Config
    try {
      config = parseConfigText(text, this.file, this.options.env)
      await this.target.prime(config)
      this.target.apply(config)
    } catch (err) {
      return this.reject(trigger, err instanceof ConfigError ? err.issues : [String(err)])
    }
    this.reloads++
    this.last = { at: new Date().toISOString(), trigger, ok: true }
    this.pendingRestart = restartRequired(this.booted, config)
    log.info({ file: this.file, trigger, reloads: this.reloads }, 'config reloaded')
    if (this.pendingRestart.length > 0) {
      log.warn({ fields: this.pendingRestart }, 'these settings changed in the file but take effect only after a restart')
    }
    return { ok: true, changed: true, restartRequired: this.pendingRestart }
  }

  private reject(trigger: ReloadTrigger, issues: readonly string[]): ReloadResult {
    this.failures++
    this.target.reloadRejected?.()
    this.last = { at: new Date().toISOString(), trigger, ok: false, issues }
    this.target.log.error({ file: this.file, trigger, issues }, 'config reload rejected; the previous config keeps serving')
    return { ok: false, issues }
  }
}
