// Headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core, for the dashboard
// tests; screenshots go to artifacts/ (gitignored) for a person to look at.
import { mkdir } from 'node:fs/promises'
import { chromium, type Browser } from 'playwright-core'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

export const ARTIFACTS = new URL('../../artifacts/', import.meta.url).pathname

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  })
}

/** The path for an artifact file, creating artifacts/ if needed. */
export async function artifact(name: string): Promise<string> {
  await mkdir(ARTIFACTS, { recursive: true })
  return `${ARTIFACTS}${name}`
}
