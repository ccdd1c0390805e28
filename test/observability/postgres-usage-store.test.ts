// The PostgreSQL usage store against the shared conformance suite, on a real server this
// test starts itself (each case gets a fresh database).
import { afterAll, beforeAll } from 'vitest'
import { PostgresUsageStore } from '../../src/observability/postgres-usage-store.js'
import { startPostgres, type PostgresServer } from '../helpers/postgres.js'
import { usageStoreSuite } from '../suites/usage-store.suite.js'

let server: PostgresServer
let n = 0

beforeAll(async () => {
  server = await startPostgres()
}, 60_000)

afterAll(async () => {
  await server?.destroy()
})

usageStoreSuite('PostgresUsageStore', async () => {
  const db = `usage_suite_${n++}`
  server.createDatabase(db)
  return new PostgresUsageStore(server.url(db))
})
