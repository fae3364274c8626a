// The service worker: it keeps the app's files (the build's whole output, listed into this file
// by vite.plugins.ts) in a cache, so the page opens at once and without the server; the API is
// never cached (routes.ts). A new version installs in the background and waits until the page,
// told by `updatefound`, asks it to take over ("skip-waiting"); the first one takes over at once.
import { routeFor } from './routes'

declare const self: ServiceWorkerGlobalScope
/** Put in at build time: the files to cache, and a version that changes with any of them. */
declare const __POCKETCHAT_PRECACHE__: { version: string; files: string[] }

const CACHE_PREFIX = 'pocketchat-app-'
const { version, files } = __POCKETCHAT_PRECACHE__
const cacheName = `${CACHE_PREFIX}${version}`
const precached = new Set(files)

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(cacheName)
      // Past the HTTP cache: it may still hold the previous version's index.html.
      const scope = self.registration.scope
      await cache.addAll(
        files.map((file) => new Request(new URL(file, scope), { cache: 'no-cache' })),
      )
      if (!self.registration.active) await self.skipWaiting()
    })(),
  )
})

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith(CACHE_PREFIX) && name !== cacheName) await caches.delete(name)
      }
      await self.clients.claim()
    })(),
  )
})

self.addEventListener('message', (event) => {
  if (event.data === 'skip-waiting') void self.skipWaiting()
})

self.addEventListener('fetch', (event) => {
  const route = routeFor(event.request, self.registration.scope, precached)
  if (route === 'network') return
  event.respondWith(fromCache(event.request, route))
})

async function fromCache(request: Request, route: 'shell' | 'precached'): Promise<Response> {
  const cache = await caches.open(cacheName)
  const key = route === 'shell' ? new URL('index.html', self.registration.scope).href : request
  // Missing only if the cache was cleared under the worker: the network may still answer.
  return (await cache.match(key)) ?? fetch(request)
}
