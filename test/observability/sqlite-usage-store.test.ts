// The SQLite usage store (worker thread) against the shared conformance suite.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SqliteUsageStore } from '../../src/observability/sqlite-usage-store.js'
import { usageStoreSuite } from '../suites/usage-store.suite.js'

const dir = mkdtempSync(join(tmpdir(), 'switchyard-usage-'))
let n = 0

usageStoreSuite('SqliteUsageStore', async () => new SqliteUsageStore(join(dir, `usage-${n++}.db`)))
