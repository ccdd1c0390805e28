// Whether a file that is appended to (the access log) can be opened at a configured path,
// checked without creating anything: the writer creates missing directories, so the first
// ancestor that exists must be a writable directory, and the file, if there, writable.
import { accessSync, constants, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'

/** `field: cannot open file: why` when `file` could not be appended to; undefined when it can. */
export function appendPathIssue(file: string, field: string): string | undefined {
  const problem = appendPathProblem(resolve(file))
  return problem === undefined ? undefined : `${field}: cannot open ${file}: ${problem}`
}

function appendPathProblem(file: string): string | undefined {
  try {
    if (statSync(file).isDirectory()) return 'it is a directory'
    accessSync(file, constants.W_OK)
    return undefined
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    // ENOTDIR: a file where a directory should be, found below.
    if (code !== 'ENOENT' && code !== 'ENOTDIR') return `not writable (${code ?? String(err)})`
  }
  // Not there yet: the nearest existing ancestor decides.
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    try {
      if (!statSync(dir).isDirectory()) return `${dir} is not a directory`
      accessSync(dir, constants.W_OK)
      return undefined
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if ((code === 'ENOENT' || code === 'ENOTDIR') && dirname(dir) !== dir) continue
      return `directory ${dir} is not writable (${code ?? String(err)})`
    }
  }
}
