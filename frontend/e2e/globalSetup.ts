// The server every test shares; its URL reaches the tests as POCKETCHAT_URL.
import { startServer } from './server'

export default async function globalSetup(): Promise<() => Promise<void>> {
  const server = await startServer('server')
  process.env.POCKETCHAT_URL = server.url
  return server.stop
}
