// SpendLedger: spend per key from this process's records, its store file, and the shared
// limit store's total (Redis), whichever knows more.
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { KeyStore } from '../../src/auth/key-store.js'
import { SpendLedger } from '../../src/limits/spend-ledger.js'

const log = pino({ level: 'silent' })

describe('SpendLedger', () => {
  it('keeps the shared store total as a floor, never lowered, plus what it records after', () => {
    const ledger = new SpendLedger(undefined, log)
    ledger.record('team-a', 0.01)
    expect(ledger.spent('team-a')).toBeCloseTo(0.01, 12)
    // Redis holds every replica's spend: more than this one recorded.
    ledger.observe('team-a', 0.05)
    expect(ledger.spent('team-a')).toBeCloseTo(0.05, 12)
    // A Redis that restarted empty reports less: the floor stays.
    ledger.observe('team-a', 0)
    expect(ledger.spent('team-a')).toBeCloseTo(0.05, 12)
    // Spend recorded after the last report adds to it (it is not in that report yet).
    ledger.record('team-a', 0.002)
    expect(ledger.spent('team-a')).toBeCloseTo(0.052, 12)
    ledger.flush()
    expect(ledger.spent('team-a')).toBeCloseTo(0.052, 12)
    expect(ledger.spent('team-b')).toBe(0)
  })

  it('with a store file, counts each cost once: the file total and the shared total are not added', async () => {
    const store = new KeyStore(join(await mkdtemp(join(tmpdir(), 'switchyard-ledger-')), 'switchyard.db'))
    const ledger = new SpendLedger(store, log)
    ledger.record('team-a', 0.01)
    ledger.observe('team-a', 0.01)
    ledger.flush()
    expect(ledger.spent('team-a')).toBeCloseTo(0.01, 12)
    expect(store.spend().get('team-a')).toBeCloseTo(0.01, 12)
    store.close()
  })
})
