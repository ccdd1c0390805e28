// Self-signed certificates for HTTPS tests, made with the openssl command line.
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

export interface TestCert {
  readonly certFile: string
  readonly keyFile: string
  /** The certificate PEM, to trust it as a CA in clients. */
  readonly pem: string
}

/** An EC P-256 certificate for localhost / 127.0.0.1, valid one day, named `cn`. */
export async function makeCert(dir: string, cn: string, name = cn): Promise<TestCert> {
  const certFile = join(dir, `${name}.cert.pem`)
  const keyFile = join(dir, `${name}.key.pem`)
  await promisify(execFile)('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', `/CN=${cn}`,
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ])
  return { certFile, keyFile, pem: await readFile(certFile, 'utf8') }
}
