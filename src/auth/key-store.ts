// KeyStore: the embedded SQLite store (`store.sqlite`) for keys created at run time and for
// spend per key. WAL mode, so the CLI, the gateway and other features' tables (the usage
// store) can share one file. Only the gateway's timers and the admin/CLI call it: never the
// per-request path, which reads the in-memory KeyRing and SpendLedger instead.
import Database from 'better-sqlite3'
import type { LimitSet } from '../config/limits-schema.js'

/** A key row: its hash and grants (never the key). */
export interface StoredKey {
  readonly name: string
  /** `sha256:<hex>` */
  readonly hash: string
  readonly models: readonly string[] | undefined
  readonly limits: LimitSet | undefined
  readonly budget_usd: number | undefined
  /** Epoch ms. */
  readonly expires: number | undefined
  readonly created_at: number
  readonly revoked_at: number | undefined
}

export type NewKey = Omit<StoredKey, 'created_at' | 'revoked_at'>

/** Thrown when a name is taken by an active key. */
export class KeyExistsError extends Error {}

interface KeyRow {
  name: string
  hash: string
  models: string | null
  limits: string | null
  budget_usd: number | null
  expires_at: number | null
  created_at: number
  revoked_at: number | null
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS keys (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  models TEXT,
  limits TEXT,
  budget_usd REAL,
  expires_at INTEGER,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS keys_active_name ON keys(name) WHERE revoked_at IS NULL;
CREATE TABLE IF NOT EXISTS key_spend (
  name TEXT PRIMARY KEY,
  usd REAL NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS keys_version (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version INTEGER NOT NULL
);
INSERT OR IGNORE INTO keys_version (id, version) VALUES (1, 0);
`

export class KeyStore {
  private readonly db: Database.Database
  private readonly stmts: {
    version: Database.Statement<[], { version: number }>
    bump: Database.Statement
    list: Database.Statement<[], KeyRow>
    insert: Database.Statement
    revoke: Database.Statement<[number, string]>
    spend: Database.Statement<[], { name: string; usd: number }>
    addSpend: Database.Statement<[string, number, number]>
  }

  /**
   * @param busyTimeoutMs how long to wait for a write lock held by another process (the CLI,
   *   the usage store). The gateway waits briefly (200 ms: its timer must not stall the event
   *   loop, and a busy store only delays a spend flush, which is retried); the CLI longer.
   */
  constructor(file: string, busyTimeoutMs = 200) {
    this.db = new Database(file)
    this.db.pragma(`busy_timeout = ${Math.floor(busyTimeoutMs)}`)
    this.db.pragma('journal_mode = WAL')
    this.db.pragma('synchronous = NORMAL')
    this.db.exec(SCHEMA)
    this.stmts = {
      version: this.db.prepare('SELECT version FROM keys_version WHERE id = 1'),
      bump: this.db.prepare('UPDATE keys_version SET version = version + 1 WHERE id = 1'),
      list: this.db.prepare('SELECT name, hash, models, limits, budget_usd, expires_at, created_at, revoked_at FROM keys ORDER BY id'),
      insert: this.db.prepare(
        'INSERT INTO keys (name, hash, models, limits, budget_usd, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)'
      ),
      revoke: this.db.prepare('UPDATE keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL'),
      spend: this.db.prepare('SELECT name, usd FROM key_spend'),
      addSpend: this.db.prepare(
        'INSERT INTO key_spend (name, usd, updated_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET usd = usd + excluded.usd, updated_at = excluded.updated_at'
      ),
    }
  }

  /** Changes whenever a key is created or revoked (by any process sharing the file). */
  version(): number {
    return this.stmts.version.get()!.version
  }

  /** Every key, revoked ones included, oldest first. */
  keys(): StoredKey[] {
    return this.stmts.list.all().map(fromRow)
  }

  create(key: NewKey): StoredKey {
    const now = Date.now()
    try {
      this.db.transaction(() => {
        this.stmts.insert.run(
          key.name,
          key.hash.toLowerCase(),
          key.models === undefined ? null : JSON.stringify(key.models),
          key.limits === undefined ? null : JSON.stringify(key.limits),
          key.budget_usd ?? null,
          key.expires ?? null,
          now
        )
        this.stmts.bump.run()
      })()
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        // Names are unique among active keys, hashes among all (a revoked key's stays taken).
        const taken = this.keys().some((k) => k.name === key.name && k.revoked_at === undefined)
        throw new KeyExistsError(
          taken ? `a key named '${key.name}' exists already` : 'a key with that hash exists already (a revoked key keeps its hash: make a new key)'
        )
      }
      throw err
    }
    return { ...key, hash: key.hash.toLowerCase(), created_at: now, revoked_at: undefined }
  }

  /** Revokes the active key of that name; false when there is none. */
  revoke(name: string): boolean {
    return this.db.transaction(() => {
      const changed = this.stmts.revoke.run(Date.now(), name).changes > 0
      if (changed) this.stmts.bump.run()
      return changed
    })()
  }

  /** Spend per key name, USD, as every process sharing the file has recorded it. */
  spend(): Map<string, number> {
    const out = new Map<string, number>()
    for (const row of this.stmts.spend.all()) out.set(row.name, row.usd)
    return out
  }

  /** Adds spend deltas in one transaction. */
  addSpend(deltas: ReadonlyMap<string, number>): void {
    const now = Date.now()
    this.db.transaction(() => {
      for (const [name, usd] of deltas) this.stmts.addSpend.run(name, usd, now)
    })()
  }

  close(): void {
    this.db.close()
  }
}

function fromRow(r: KeyRow): StoredKey {
  return {
    name: r.name,
    hash: r.hash,
    models: r.models === null ? undefined : (JSON.parse(r.models) as string[]),
    limits: r.limits === null ? undefined : (JSON.parse(r.limits) as LimitSet),
    budget_usd: r.budget_usd ?? undefined,
    expires: r.expires_at ?? undefined,
    created_at: r.created_at,
    revoked_at: r.revoked_at ?? undefined,
  }
}
