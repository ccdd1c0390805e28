// The live dashboard on the admin port: the page at `/` (public: it holds no data), its
// state at GET /admin/dashboard/state and its event stream at GET /admin/events (both need
// the admin token; the stream also takes a one-time ticket, see admin/event-tickets.ts).
import type { Snapshot } from '../config/snapshot.js'
import type { LiveStats } from '../observability/live-stats.js'
import { findDashboardDir, staticAsset } from './dashboard-assets.js'
import { dashboardState } from './dashboard-state.js'
import { EventTickets } from './event-tickets.js'
import { EventFeed } from './events.js'
import { AdminError, type AdminServer } from './server.js'

/** The page's ES modules (src/admin/dashboard/), served as they are. */
const SCRIPTS = ['app.js', 'render.js', 'chart.js']

export interface DashboardOptions {
  /** The snapshot serving new requests now (it changes on reload). */
  readonly snapshot: () => Snapshot
  readonly stats: LiveStats
  /** Push period of the event stream, ms. Defaults to 1000. */
  readonly intervalMs?: number
}

/** Registers the dashboard's routes; the returned feed is closed when the gateway stops. */
export function registerDashboard(admin: AdminServer, options: DashboardOptions): EventFeed {
  const { snapshot, stats } = options
  const feed = new EventFeed({ state: (cursor) => dashboardState(snapshot(), stats, cursor), intervalMs: options.intervalMs })
  const tickets = new EventTickets({ now: stats.now })
  const dir = findDashboardDir()

  admin.route('GET', '/', staticAsset(dir, 'index.html', 'text/html; charset=utf-8'), { public: true })
  for (const file of SCRIPTS) admin.route('GET', `/${file}`, staticAsset(dir, file, 'text/javascript; charset=utf-8'), { public: true })
  admin.route('GET', '/style.css', staticAsset(dir, 'style.css', 'text/css; charset=utf-8'), { public: true })

  admin.route('GET', '/admin/dashboard/state', () => ({ body: dashboardState(snapshot(), stats) }))
  admin.route('POST', '/admin/events/ticket', () => ({ body: tickets.issue() }))
  // Public as far as the router goes: it checks a ticket or the Bearer token itself.
  admin.route(
    'GET',
    '/admin/events',
    ({ req, res, query }) => {
      const ticket = query.get('ticket')
      const byTicket = tickets.valid(ticket)
      if (!byTicket && !admin.authorized(req)) {
        throw new AdminError(401, 'Missing or expired ticket: POST /admin/events/ticket with the admin token first.', 'invalid_admin_token')
      }
      // Refused for room: the ticket stays good for a retry.
      if (feed.full) throw new AdminError(503, 'Too many dashboard streams are open.', 'too_many_streams')
      if (byTicket) tickets.redeem(ticket)
      feed.attach(req, res)
      return undefined
    },
    { public: true }
  )
  return feed
}
