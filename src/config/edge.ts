// Edge settings of the `server:` section: TLS, CORS and trusted proxies. Addresses and
// origins are checked here, at load time, so a typo is a config error with its path.
import { isIP } from 'node:net'
import { z } from 'zod'

export interface Cidr {
  readonly address: string
  readonly prefix: number
  readonly family: 'ipv4' | 'ipv6'
}

/** `10.0.0.0/8`, `fd00::/8`, or a bare address (a /32 or /128). Returns undefined when invalid. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/')
  const address = slash === -1 ? text : text.slice(0, slash)
  const version = isIP(address)
  if (version === 0) return undefined
  const max = version === 4 ? 32 : 128
  let prefix = max
  if (slash !== -1) {
    const p = text.slice(slash + 1)
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) return undefined
    prefix = Number(p)
  }
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' }
}

const cidr = z.string().refine((s) => parseCidr(s) !== undefined, {
  message: 'must be an IP address or a CIDR block like 10.0.0.0/8 or fd00::/8',
})

/** `*`, or an origin exactly as browsers send it: scheme://host[:port], no path. */
export const corsOrigin = z.string().transform((s, ctx) => {
  if (s === '*') return s
  let parsed: URL | undefined
  try {
    parsed = new URL(s)
  } catch {
    parsed = undefined
  }
  const ok = parsed !== undefined && (parsed.protocol === 'http:' || parsed.protocol === 'https:')
  if (!ok || parsed!.origin !== s.replace(/\/$/, '').toLowerCase()) {
    ctx.issues.push({ code: 'custom', input: s, message: 'must be * or an origin like https://app.example.com (scheme, host, optional port; no path)' })
    return z.NEVER
  }
  return parsed!.origin
})

export const tlsSchema = z.strictObject({
  /** PEM certificate chain file. */
  cert: z.string().min(1),
  /** PEM private key file. */
  key: z.string().min(1),
})

export const trustedProxiesSchema = z.array(cidr).default([])

export type TlsConfig = z.output<typeof tlsSchema>
