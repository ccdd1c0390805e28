// TLS material for the HTTPS listener: the PEM files named by `server.tls`, read and
// checked (a key that does not match its certificate is refused here, not at handshake).
import { readFileSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
import { ConfigError } from '../config/load.js'
import type { TlsConfig } from '../config/edge.js'

export interface TlsMaterial {
  readonly cert: Buffer
  readonly key: Buffer
}

/** Reads and checks the certificate and key; throws ConfigError naming the field. */
export function readTlsMaterial(tls: TlsConfig): TlsMaterial {
  // Both files are tried before either refusal: a config check names every problem at once.
  const problems: string[] = []
  const cert = readPem(tls.cert, 'server.tls.cert', problems)
  const key = readPem(tls.key, 'server.tls.key', problems)
  if (cert === undefined || key === undefined) throw new ConfigError('server.tls', problems)
  try {
    createSecureContext({ cert, key })
  } catch (err) {
    throw new ConfigError('server.tls', [`server.tls: the certificate and key are not usable together: ${(err as Error).message}`])
  }
  return { cert, key }
}

function readPem(file: string, field: string, problems: string[]): Buffer | undefined {
  try {
    return readFileSync(file)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    problems.push(`${field}: cannot read ${file} (${code ?? String(err)})`)
    return undefined
  }
}
