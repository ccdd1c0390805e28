// `switchyard init`: writes the commented starter config, never over an existing file
// unless --force.
import { writeFile } from 'node:fs/promises'
import { STARTER_CONFIG } from './starter-config.js'

export async function runInit(file: string, force: boolean): Promise<void> {
  try {
    await writeFile(file, STARTER_CONFIG, { flag: force ? 'w' : 'wx' })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') console.error(`${file} exists already; use --force to overwrite it`)
    else console.error(`switchyard init: cannot write ${file}: ${code === 'ENOENT' ? 'its directory does not exist' : (err as Error).message}`)
    process.exitCode = 1
    return
  }
  console.log(`wrote ${file}; check it with: npx switchyard validate --config ${file}`)
}
