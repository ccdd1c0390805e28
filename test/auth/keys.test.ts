import { describe, expect, it } from 'vitest'
import { formatKeyHash, generateKey, hashHex, hashKeyHex, presentedKey, sameText } from '../../src/auth/keys.js'

describe('key format and hashing', () => {
  it('makes sk-sy- keys with 192 random bits', () => {
    const keys = new Set(Array.from({ length: 100 }, generateKey))
    expect(keys.size).toBe(100)
    for (const k of keys) expect(k).toMatch(/^sk-sy-[A-Za-z0-9_-]{32}$/)
  })

  it('hashes as sha256:<hex>, which config and store use', () => {
    expect(formatKeyHash('test')).toBe('sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08')
    expect(hashHex('sha256:9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08')).toBe(hashKeyHex('test'))
  })

  it('compares digests in full', () => {
    const a = hashKeyHex('a')
    expect(sameText(a, hashKeyHex('a'))).toBe(true)
    expect(sameText(a, hashKeyHex('b'))).toBe(false)
    expect(sameText(a, `${a.slice(0, -1)}0`)).toBe(a.endsWith('0'))
    expect(sameText(a, a.slice(1))).toBe(false)
  })
})

describe('presentedKey', () => {
  it('reads Authorization: Bearer (any case), api-key and x-api-key, in that order', () => {
    expect(presentedKey({ authorization: 'Bearer sk-1' })).toBe('sk-1')
    expect(presentedKey({ authorization: 'bearer sk-1' })).toBe('sk-1')
    expect(presentedKey({ authorization: 'BEARER sk-1' })).toBe('sk-1')
    expect(presentedKey({ authorization: 'bEaReR sk-1' })).toBe('sk-1')
    // Not the Bearer scheme: no key (and no other header to fall back on).
    expect(presentedKey({ authorization: 'Basic dXNlcjpwYXNz' })).toBeUndefined()
    expect(presentedKey({ authorization: 'Bearex sk-1' })).toBeUndefined()
    expect(presentedKey({ authorization: 'Bearer\tsk-1' })).toBeUndefined()
    expect(presentedKey({ 'api-key': 'sk-2' })).toBe('sk-2')
    expect(presentedKey({ 'x-api-key': 'sk-3' })).toBe('sk-3')
    expect(presentedKey({ authorization: 'Bearer sk-1', 'api-key': 'sk-2', 'x-api-key': 'sk-3' })).toBe('sk-1')
    expect(presentedKey({ 'api-key': 'sk-2', 'x-api-key': 'sk-3' })).toBe('sk-2')
  })

  it('finds nothing in other schemes or empty values', () => {
    expect(presentedKey({})).toBeUndefined()
    expect(presentedKey({ authorization: 'Basic dXNlcjpwYXNz' })).toBeUndefined()
    expect(presentedKey({ authorization: 'Bearer ' })).toBeUndefined()
    expect(presentedKey({ authorization: 'Bearer', 'x-api-key': '' })).toBeUndefined()
    expect(presentedKey({ authorization: 'Basic x', 'x-api-key': 'sk-3' })).toBe('sk-3')
  })
})
