// A listener that cannot bind its address is the config's problem, named by the field that
// chose the address (server.port, admin.port, server.redirect_http_port), not a raw stack.
import { ConfigError } from '../config/load.js'

const REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'not an address of this machine',
  ENOTFOUND: 'host not found',
}

export class ListenError extends ConfigError {
  constructor(
    /** The config field that chose the port. */
    readonly field: string,
    /** host:port, as it was asked for. */
    readonly address: string,
    readonly reason: string
  ) {
    super('(config)', [`${field}: cannot listen on ${address}: ${reason}`])
  }
}

/** Runs `listen`; a bind failure becomes a ListenError naming `field`, other errors pass. */
export async function listenAs<T>(field: string, host: string, port: number, listen: () => Promise<T>): Promise<T> {
  try {
    return await listen()
  } catch (err) {
    const reason = REASONS[(err as NodeJS.ErrnoException).code ?? '']
    if (reason === undefined) throw err
    throw new ListenError(field, `${host.includes(':') ? `[${host}]` : host}:${port}`, reason)
  }
}
