import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { KeyRing } from '../../src/auth/key-ring.js'
import { KeyExistsError, KeyStore } from '../../src/auth/key-store.js'
import { formatKeyHash, generateKey } from '../../src/auth/keys.js'
import { parseConfig } from '../../src/config/load.js'
import { SpendLedger } from '../../src/limits/spend-ledger.js'

const silent = pino({ level: 'silent' })

function config(keys: { name: string; hash: string; [k: string]: unknown }[] = []) {
  return parseConfig({
    models: [{ name: 'm', upstreams: [{ url: 'http://127.0.0.1:9/v1' }] }],
    auth: { keys },
  })
}

async function tempDb(): Promise<string> {
  return join(await mkdtemp(join(tmpdir(), 'switchyard-keys-')), 'keys.db')
}

describe('KeyRing', () => {
  it('finds config keys by hash, with their grants, and nothing else', () => {
    const key = generateKey()
    const ring = new KeyRing(undefined, silent)
    const cfg = config([{ name: 'a', hash: formatKeyHash(key), models: ['m'], limits: { requests_per_minute: 5 }, expires: '2030-01-02' }])
    const found = ring.lookup(cfg, key)!
    expect(found).toMatchObject({ name: 'a', source: 'config', limits: { requests_per_minute: 5 }, revokedAt: undefined })
    expect([...found.models!]).toEqual(['m'])
    expect(found.expiresAt).toBe(Date.parse('2030-01-02T23:59:59.999Z'))
    expect(ring.lookup(cfg, generateKey())).toBeUndefined()
    expect(ring.lookup(cfg, key.slice(0, -1))).toBeUndefined()
  })

  it('remembers the last key of a connection, but never past a reload or a revocation', async () => {
    const store = new KeyStore(await tempDb())
    const a = generateKey()
    const b = generateKey()
    store.create({ name: 'a', hash: formatKeyHash(a), models: undefined, limits: undefined, budget_usd: undefined, expires: undefined })
    store.create({ name: 'b', hash: formatKeyHash(b), models: undefined, limits: undefined, budget_usd: undefined, expires: undefined })
    const ring = new KeyRing(store, silent)
    ring.refresh()
    const cfg = config()
    const socket = {}
    expect(ring.lookup(cfg, a, socket)?.name).toBe('a')
    expect(ring.lookup(cfg, a, socket)?.name).toBe('a')
    // Another key on the same connection (a shared proxy connection) is looked up afresh.
    expect(ring.lookup(cfg, b, socket)?.name).toBe('b')
    expect(ring.lookup(cfg, `${b}x`, socket)).toBeUndefined()
    expect(ring.lookup(cfg, b.slice(0, -1), socket)).toBeUndefined()
    store.revoke('b')
    ring.refresh()
    expect(ring.lookup(cfg, b, socket)?.revokedAt).toBeGreaterThan(0)
    // A reload builds a new index: the connection's memo of the old one is not used.
    const c = generateKey()
    expect(ring.lookup(config([{ name: 'b', hash: formatKeyHash(c) }]), b, socket)).toBeUndefined()
    store.close()
  })

  it('remembers the Authorization header a key came in, whole, and only that', () => {
    const a = generateKey()
    const b = generateKey()
    const ring = new KeyRing(undefined, silent)
    const cfg = config([
      { name: 'a', hash: formatKeyHash(a) },
      { name: 'b', hash: formatKeyHash(b) },
    ])
    const socket = {}
    expect(ring.remembered(cfg, `Bearer ${a}`, socket)).toBeUndefined()
    expect(ring.lookup(cfg, a, socket, `Bearer ${a}`)?.name).toBe('a')
    expect(ring.remembered(cfg, `Bearer ${a}`, socket)?.name).toBe('a')
    // Any other header text is not this key, however close.
    expect(ring.remembered(cfg, `Bearer ${b}`, socket)).toBeUndefined()
    expect(ring.remembered(cfg, `bearer ${a}`, socket)).toBeUndefined()
    expect(ring.remembered(cfg, `Bearer ${a} `, socket)).toBeUndefined()
    expect(ring.remembered(cfg, `Bearer ${a}`, {})).toBeUndefined()
    // A key that came in another header (api-key) is remembered by the key alone.
    expect(ring.lookup(cfg, b, socket)?.name).toBe('b')
    expect(ring.remembered(cfg, `Bearer ${b}`, socket)).toBeUndefined()
    expect(ring.remembered(cfg, `Bearer ${a}`, socket)).toBeUndefined()
    // A reload: the memo of the old index is not used.
    expect(ring.lookup(cfg, a, socket, `Bearer ${a}`)?.name).toBe('a')
    expect(ring.remembered(config([{ name: 'b', hash: formatKeyHash(b) }]), `Bearer ${a}`, socket)).toBeUndefined()
  })

  it('follows a reloaded config', () => {
    const key = generateKey()
    const ring = new KeyRing(undefined, silent)
    expect(ring.lookup(config(), key)).toBeUndefined()
    expect(ring.lookup(config([{ name: 'a', hash: formatKeyHash(key) }]), key)?.name).toBe('a')
  })

  it('sees keys another process adds to or revokes in the store once it refreshes', async () => {
    const file = await tempDb()
    const mine = new KeyStore(file)
    const cli = new KeyStore(file) // another process, as far as the file is concerned
    const ring = new KeyRing(mine, silent)
    const cfg = config()
    ring.refresh()
    const key = generateKey()
    cli.create({ name: 'late', hash: formatKeyHash(key), models: undefined, limits: { concurrency: 2 }, budget_usd: 3, expires: undefined })
    expect(ring.lookup(cfg, key)).toBeUndefined()
    ring.refresh()
    expect(ring.lookup(cfg, key)).toMatchObject({ name: 'late', source: 'store', limits: { concurrency: 2 }, budgetUsd: 3 })
    expect(cli.revoke('late')).toBe(true)
    ring.refresh()
    expect(ring.lookup(cfg, key)?.revokedAt).toBeGreaterThan(0)
    // A revoked name can be given to a new key; the old one stays revoked.
    const again = generateKey()
    cli.create({ name: 'late', hash: formatKeyHash(again), models: undefined, limits: undefined, budget_usd: undefined, expires: undefined })
    ring.refresh()
    expect(ring.lookup(cfg, again)?.revokedAt).toBeUndefined()
    expect(ring.lookup(cfg, key)?.revokedAt).toBeGreaterThan(0)
    expect(() => cli.create({ name: 'late', hash: formatKeyHash(generateKey()), models: undefined, limits: undefined, budget_usd: undefined, expires: undefined })).toThrow(KeyExistsError)
    mine.close()
    cli.close()
  })

  it('a config key wins over a stored key of the same name', async () => {
    const store = new KeyStore(await tempDb())
    const stored = generateKey()
    const configured = generateKey()
    store.create({ name: 'dup', hash: formatKeyHash(stored), models: undefined, limits: undefined, budget_usd: undefined, expires: undefined })
    const ring = new KeyRing(store, silent)
    ring.refresh()
    const cfg = config([{ name: 'dup', hash: formatKeyHash(configured) }])
    expect(ring.lookup(cfg, configured)?.source).toBe('config')
    expect(ring.lookup(cfg, stored)).toBeUndefined()
    store.close()
  })
})

describe('SpendLedger', () => {
  it('records in memory, writes deltas on flush, and sums what every process sharing the file wrote', async () => {
    const file = await tempDb()
    const a = new SpendLedger(new KeyStore(file), silent)
    const b = new SpendLedger(new KeyStore(file), silent)
    a.record('k', 0.5)
    b.record('k', 0.25)
    expect(a.spent('k')).toBe(0.5)
    a.flush()
    b.flush()
    expect(b.spent('k')).toBe(0.75)
    a.flush()
    expect(a.spent('k')).toBe(0.75)
    const restarted = new SpendLedger(new KeyStore(file), silent)
    expect(restarted.spent('k')).toBe(0.75)
  })

  it('without a store, keeps spend in memory', () => {
    const l = new SpendLedger(undefined, silent)
    l.record('k', 1)
    l.flush()
    l.record('k', 2)
    expect(l.spent('k')).toBe(3)
    l.record('k', 0)
    l.record('k', Number.NaN)
    expect(l.spent('k')).toBe(3)
  })
})
