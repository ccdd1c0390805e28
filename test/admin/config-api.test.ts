// The reload error's `param`: the field path an issue names, never a file name.
import { describe, expect, it } from 'vitest'
import { fieldPath } from '../../src/admin/config-api.js'

describe('fieldPath', () => {
  it('names the field, whatever the characters of a map key', () => {
    expect(fieldPath('models[0].upstreams[1].url: must be an http(s) URL', 'switchyard.yaml')).toBe('models[0].upstreams[1].url')
    expect(fieldPath('limits.per_model.chat-x: unknown model', 'switchyard.yaml')).toBe('limits.per_model.chat-x')
    expect(fieldPath('prices.llama-3.1:8b/q4 (fast).input: too small', 'switchyard.yaml')).toBe('prices.llama-3.1:8b/q4 (fast).input')
    expect(fieldPath('server.tls: the certificate and key are not usable together: bad', 'switchyard.yaml')).toBe('server.tls')
  })

  it('names no field for a problem with the file as a whole', () => {
    expect(fieldPath('switchyard.yaml: cannot read: Error: ENOENT: no such file or directory', 'switchyard.yaml')).toBeUndefined()
    expect(fieldPath('/etc/sy/gw.yaml: cannot read: Error: EACCES', '/etc/sy/gw.yaml')).toBeUndefined()
    expect(fieldPath('YAML: Nested mappings are not allowed in compact mappings', 'switchyard.yaml')).toBeUndefined()
    expect(fieldPath('Error: something broke', 'switchyard.yaml')).toBeUndefined()
  })
})
