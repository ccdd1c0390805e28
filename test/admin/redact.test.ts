// What the admin API shows of a config: no secrets, whatever their key, header or URL.
import { describe, expect, it } from 'vitest'
import { redactSecrets, safeUrl } from '../../src/admin/redact.js'
import { parseConfig } from '../../src/config/load.js'

describe('redactSecrets', () => {
  it('hides keys, tokens, header values and URL credentials, and nothing else', () => {
    const config = parseConfig({
      admin: { token: 'admin-secret' },
      models: [
        {
          name: 'm',
          upstreams: [
            { url: 'https://api.example/v1', api_key: 'sk-1', headers: { 'OpenAI-Organization': 'org-1' } },
            // Credentials in a URL are sent as Basic auth, so never beside api_key.
            { url: 'https://user:pw@api.example/v1', name: 'basic' },
          ],
          timeouts: { first_token: '3s' },
        },
      ],
    })
    const shown = JSON.stringify(redactSecrets(config))
    for (const secret of ['admin-secret', 'sk-1', 'org-1', 'user:pw', 'pw@']) expect(shown).not.toContain(secret)
    const out = redactSecrets(config) as { models: { upstreams: Record<string, unknown>[]; timeouts: { first_token: number } }[] }
    expect(out.models[0]!.upstreams[0]).toMatchObject({
      url: 'https://api.example/v1',
      api_key: '[redacted]',
      headers: { 'OpenAI-Organization': '[redacted]' },
    })
    expect(out.models[0]!.upstreams[1]).toMatchObject({ url: 'https://api.example/v1' })
    expect(out.models[0]!.timeouts.first_token).toBe(3000)
    expect(redactSecrets({ redis: { url: 'redis://:pw@h:6379', redis_password: 'x' } })).toEqual({
      redis: { url: 'redis://h:6379', redis_password: '[redacted]' },
    })
    // A query may carry a token (?api-key=…), a key's hash lets a guessable key be found offline.
    expect(redactSecrets({ url: 'http://u:p@h:1/v1?token=QS#frag', plain: 'http://h:1/v1', hash: 'sha256:ab' })).toEqual({
      url: 'http://h:1/v1?[redacted]',
      plain: 'http://h:1/v1',
      hash: '[redacted]',
    })
  })

  it('safeUrl keeps origin and path only', () => {
    expect(safeUrl('http://u:p@10.0.0.1:8000/v1/?api-key=x#f')).toBe('http://10.0.0.1:8000/v1')
  })
})
