// When a cross-field check may run. Zod skips a refinement on an object once any field of it
// has an issue, so one typo hid every cross-field problem; these run whenever the fields they
// read parsed, and only then (they read parsed values).
import type { z } from 'zod'

/** Does an issue at this path (relative to the checked object) touch what the check reads? */
export type Reads = (path: readonly PropertyKey[]) => boolean

/** `when` for a refinement: run unless an issue (other than unknown fields) touches what it reads. */
export function whenParsed(reads: Reads): { when: (payload: z.core.ParsePayload) => boolean } {
  return {
    when: (payload) => !payload.issues.some((issue) => issue.code !== 'unrecognized_keys' && reads(issue.path ?? [])),
  }
}

/** Reads these fields of a flat object (an issue on the object itself counts too). */
export const fields =
  (...names: readonly string[]): Reads =>
  (path) =>
    path.length === 0 || names.includes(String(path[0]))
