// Starts a server listening and resolves with its address, or rejects with the listen error
// (EADDRINUSE…): the one way every listener of the gateway starts.
import type { AddressInfo, Server } from 'node:net'

export function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve(server.address() as AddressInfo)
    })
  })
}
