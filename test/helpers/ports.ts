// Free TCP ports on 127.0.0.1 for servers the tests start themselves (Redis, PostgreSQL, scripted upstreams).
import { createServer, type AddressInfo, type Server } from 'node:net'

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

/** Starts `server` on a free port of 127.0.0.1; its origin (`http://127.0.0.1:PORT`). */
export async function listenLocal(server: Pick<Server, 'listen' | 'address'>): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}
