// Admin API for the config: the running config with secrets redacted, reload counters, and
// a reload on demand (the same path as SIGHUP and a file change).
import type { ConfigReloader } from '../config/reload.js'
import { configSchema, type Config } from '../config/schema.js'
import type { Membership } from '../routing/membership.js'
import { redactSecrets } from './redact.js'
import { AdminError, type AdminServer } from './server.js'

export interface ConfigControl {
  readonly config: Config
  readonly membership: Membership
  /** undefined when the gateway runs on a config built in code (the demo, tests). */
  readonly reloader: ConfigReloader | undefined
}

export function registerConfigRoutes(admin: AdminServer, gw: ConfigControl): void {
  admin.route('GET', '/admin/config', () => {
    const r = gw.reloader
    return {
      body: {
        file: r?.file ?? null,
        reloads: r?.reloads ?? 0,
        reload_failures: r?.failures ?? 0,
        last_reload: r?.last ?? null,
        restart_required: r?.pendingRestart ?? [],
        runtime_changes: gw.membership.describe(),
        config: redactSecrets(gw.config),
      },
    }
  })

  admin.route('POST', '/admin/config/reload', async () => {
    const r = gw.reloader
    if (r === undefined) {
      throw new AdminError(409, 'This gateway was not started from a config file, so there is nothing to reload.', 'no_config_file')
    }
    const result = await r.reload('admin')
    if (!result.ok) {
      const first = result.issues[0] ?? 'invalid config'
      throw new AdminError(400, `The config was rejected; the previous one keeps serving. ${first}`, 'invalid_config', {
        param: fieldPath(first, r.file),
        issues: result.issues,
      })
    }
    return { body: { reloaded: true, reloads: r.reloads, restart_required: result.restartRequired } }
  })
}

const TOP_LEVEL: ReadonlySet<string> = new Set(Object.keys(configSchema.shape))

/**
 * The field path an issue starts with (`models[0].upstreams[1].url: …`,
 * `limits.per_model.chat-x: …`), or undefined when it is about the file as a whole (it cannot
 * be read, it is not YAML). A map key may hold any character but `: `, which ends the path.
 */
export function fieldPath(issue: string, file: string): string | undefined {
  if (issue.startsWith(`${file}: `)) return undefined
  const end = issue.indexOf(': ')
  if (end <= 0) return undefined
  const path = issue.slice(0, end)
  const top = /^[a-z_]+/.exec(path)?.[0]
  return top !== undefined && TOP_LEVEL.has(top) && /^[a-z_]+(?:$|[.[])/.test(path) ? path : undefined
}
