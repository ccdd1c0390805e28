// The package's version, for `switchyard --version`: read from the nearest package.json
// above this module (src/cli/ when run from sources, dist/src/cli/ when built).
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown }
      if (pkg.name === 'switchyard' && typeof pkg.version === 'string') return pkg.version
    } catch {
      // No package.json here (or not ours): look one level up.
    }
    const up = dirname(dir)
    if (up === dir) return 'unknown'
    dir = up
  }
}
