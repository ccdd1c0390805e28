// `switchyard init`: writes the commented starter config, never over an existing file
// unless --force.
import { writeFile } from 'node:fs/promises'
import { STARTER_CONFIG } from './starter-config.js'

export async function runInit(file: string, force: boolean): Promise<void> {
  try {
    await writeFile(file, STARTER_CONFIG, { flag: force ? 'w' : 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      console.error(`${file} exists already; use --force to overwrite it`)
      process.exitCode = 1
      return
    }
    throw err
  }
  console.log(`wrote ${file}; check it with: npx switchyard validate --config ${file}`)
}
