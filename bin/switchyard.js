#!/usr/bin/env node
// Thin launcher: the TypeScript is compiled to dist/ by `npm ci` (the prepare script).
import { existsSync } from 'node:fs'
const entry = new URL('../dist/src/cli/index.js', import.meta.url)
if (!existsSync(entry)) {
  console.error('switchyard: dist/ is missing; run `npm ci` (or `npm run build`) first')
  process.exit(1)
}
await import(entry.href)
