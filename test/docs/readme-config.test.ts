// README's full example config loads as written, with the environment variables it names set:
// the example people copy cannot drift from the schema.
import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { parseConfigText } from '../../src/config/load.js'

/** The first yaml block under README's "## Configuration" heading. */
async function exampleConfig(): Promise<string> {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8')
  const section = readme.slice(readme.indexOf('\n## Configuration\n'))
  const block = /```yaml\n([\s\S]*?)```/.exec(section)
  if (block === null) throw new Error('README has no yaml block under ## Configuration')
  return block[1]!
}

describe('README example config', () => {
  it('loads as written, with the environment variables it names set', async () => {
    const text = await exampleConfig()
    // ${NAME} without a default must be set; ${NAME:-default} may be left unset.
    const required = [...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]!)
    expect(required).toContain('SWITCHYARD_ADMIN_TOKEN')
    const env = Object.fromEntries(required.map((name) => [name, `test-${name.toLowerCase()}`]))
    const config = parseConfigText(text, 'README.md', env)
    expect(config.admin.token).toBe('test-switchyard_admin_token')
    // Every fallback names a model the example defines.
    const names = new Set(config.models.map((m) => m.name))
    for (const m of config.models) for (const f of m.fallback) expect(names, `${m.name} falls back to ${f}`).toContain(f)
  })
})
