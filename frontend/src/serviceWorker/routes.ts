// Which requests the service worker answers, and how: the app's own files from its cache, and
// a page load of the app with the cached index.html. Everything else goes to the network
// untouched; the API above all, so no reply, conversation or metric is ever cached.
// The paths Flask serves besides the app (backend/pocketchat/api), relative to the app's root.
const NETWORK_ONLY = ['v1/', 'api/', 'metrics', 'openapi.json', 'health']

/** `shell`: index.html from the cache; `precached`: that file from the cache. */
export type Route = 'shell' | 'precached' | 'network'

export interface RoutedRequest {
  method: string
  mode: string
  url: string
}

/**
 * @param scope the worker's scope (the app's root, "http://host/chat/")
 * @param precached the cached files, relative to the scope ("assets/index-1a2b.js")
 */
export function routeFor(
  request: RoutedRequest,
  scope: string,
  precached: ReadonlySet<string>,
): Route {
  if (request.method !== 'GET') return 'network'
  const url = new URL(request.url)
  const root = new URL(scope)
  if (url.origin !== root.origin || !url.pathname.startsWith(root.pathname)) return 'network'
  let path: string
  try {
    path = decodeURIComponent(url.pathname.slice(root.pathname.length))
  } catch {
    return 'network'
  }
  if (NETWORK_ONLY.some((prefix) => path === prefix || path.startsWith(prefix))) return 'network'
  if (request.mode === 'navigate') {
    // As spa.py does: a path whose last part has no dot is one of the app's own pages.
    const last = path.split('/').at(-1) ?? ''
    return path === 'index.html' || !last.includes('.') ? 'shell' : 'network'
  }
  return url.search === '' && precached.has(path) ? 'precached' : 'network'
}
