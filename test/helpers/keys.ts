// Keys for tests: a fresh key and its config entry (only the hash goes into the config).
import { formatKeyHash, generateKey } from '../../src/auth/keys.js'

export interface TestKey {
  readonly key: string
  readonly entry: Record<string, unknown>
}

export function testKey(name: string, grants: Record<string, unknown> = {}): TestKey {
  const key = generateKey()
  return { key, entry: { name, hash: formatKeyHash(key), ...grants } }
}

/** Settles every promise and counts how they went (429s by error code). */
export async function tally(promises: Promise<unknown>[]): Promise<{ ok: number; refused: number; codes: Record<string, number>; other: unknown[] }> {
  const results = await Promise.allSettled(promises)
  const out = { ok: 0, refused: 0, codes: {} as Record<string, number>, other: [] as unknown[] }
  for (const r of results) {
    if (r.status === 'fulfilled') out.ok++
    else if ((r.reason as { status?: number }).status === 429) {
      out.refused++
      const code = String((r.reason as { code?: string }).code)
      out.codes[code] = (out.codes[code] ?? 0) + 1
    } else out.other.push(r.reason)
  }
  return out
}

/**
 * Checks that a burst against a bucket of `limit` per minute admitted exactly `limit`.
 * The bucket refills one request every 60/limit s, so a burst that took longer than that
 * (an overloaded machine) may rightly admit one more per interval: then that is the bound.
 */
export function expectExactBurst(ok: number, limit: number, burstMs: number): void {
  const refills = Math.floor(burstMs / (60_000 / limit))
  if (refills === 0 && ok !== limit) throw new Error(`expected exactly ${limit} admitted, got ${ok} (burst ${Math.round(burstMs)} ms)`)
  if (ok < limit || ok > limit + refills) {
    throw new Error(`expected ${limit}..${limit + refills} admitted in a ${Math.round(burstMs)} ms burst, got ${ok}`)
  }
}
