// The scanner behind the suite-wide secret check (test/global-setup.ts).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { scanLogDir, secretsInConfig } from './secret-scan.js'

describe('secret scan', () => {
  const dirs: string[] = []
  const tempDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'scan-test-'))
    dirs.push(dir)
    return dir
  }
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  })

  it('finds registered secrets and virtual keys in any log line, without repeating them', () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'secrets.jsonl'), `${JSON.stringify('sk-upstream-abcdef123')}\n${JSON.stringify('admin-token-0099')}\n`)
    writeFileSync(join(dir, 'a.stderr.log'), '{"msg":"ok"}\n{"msg":"oops","auth":"Bearer sk-upstream-abcdef123"}\n')
    writeFileSync(join(dir, 'b.stdout.log'), '{"key":"team-a"}\n{"k":"sk-sy-AbCdEf0123456789xyz"}\n')
    writeFileSync(join(dir, 'c.stdout.log'), 'clean\n')
    const leaks = scanLogDir(dir)
    expect(leaks.map((l) => [l.file, l.line])).toEqual([
      ['a.stderr.log', 2],
      ['b.stdout.log', 2],
    ])
    for (const l of leaks) expect(l.secret).toMatch(/^sk-.…\(\d+ chars\)$/)
  })

  it('is clean when no secret appears', () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'secrets.jsonl'), `${JSON.stringify('sk-upstream-abcdef123')}\n`)
    writeFileSync(join(dir, 'a.stderr.log'), '{"authorization":"[redacted]"}\n')
    expect(scanLogDir(dir)).toEqual([])
  })

  it('collects the secrets of a gateway config', () => {
    const config = {
      admin: { token: 'adm-tok-1' },
      models: [{ name: 'm', upstreams: [{ url: 'http://x', api_key: 'sk-a', headers: { 'api-key': 'azure-k', 'OpenAI-Organization': 'org' } }] }],
    }
    expect(secretsInConfig(config).sort()).toEqual(['adm-tok-1', 'azure-k', 'sk-a'])
  })
})
