// The dashboard's static files (src/admin/dashboard/: no build step). They are read from
// the source tree at run time: next to this module when it runs from src/ (tests), or
// ../../../src/admin/dashboard/ when it runs compiled from dist/src/admin/, so a clean
// clone's `npx switchyard start` serves them without a copy step.
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import type { ServerResponse } from 'node:http'
import type { AdminHandler } from './server.js'
import { AdminError } from './server.js'

const CANDIDATES = ['./dashboard/', '../../../src/admin/dashboard/']

/** The directory holding index.html, or undefined when neither place has it. */
export function findDashboardDir(): URL | undefined {
  for (const c of CANDIDATES) {
    const dir = new URL(c, import.meta.url)
    if (existsSync(new URL('index.html', dir))) return dir
  }
  return undefined
}

/**
 * The page may load only its own script and style and talk only to its own origin, so an
 * injected string can neither run nor send the token (kept in sessionStorage) anywhere.
 */
const PAGE_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
}

interface Asset {
  readonly body: Buffer
  readonly etag: string
}

/** A handler serving one file, read on first use and kept in memory (they are a few KB). */
export function staticAsset(dir: URL | undefined, file: string, type: string): AdminHandler {
  let asset: Asset | undefined
  return function serveAsset({ req, res }) {
    if (dir === undefined) throw new AdminError(404, 'The dashboard files are missing from this installation.')
    if (asset === undefined) {
      const body = readFileSync(new URL(file, dir))
      asset = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` }
    }
    send(res, asset, type, req.headers['if-none-match'] === asset.etag)
    return undefined
  }
}

function send(res: ServerResponse, asset: Asset, type: string, notModified: boolean): void {
  const headers = { ...PAGE_HEADERS, etag: asset.etag, 'cache-control': 'no-cache' }
  if (notModified) {
    res.writeHead(304, headers)
    res.end()
    return
  }
  res.writeHead(200, { ...headers, 'content-type': type, 'content-length': asset.body.length })
  res.end(asset.body)
}
