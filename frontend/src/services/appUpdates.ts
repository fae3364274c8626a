// The service worker as the page sees it (sw.ts is the worker itself): registered once the page
// has loaded, checked for a new version whenever the page comes back into view, and, when one
// is waiting, switched to on the user's word, which then reloads the page. Browsers allow
// service workers only on https:// and http://localhost; elsewhere this does nothing.

export interface AppUpdateCallbacks {
  /** A new version is installed and waits to take over. */
  onUpdateReady: () => void
}

export async function registerServiceWorker(callbacks: AppUpdateCallbacks): Promise<void> {
  if (!('serviceWorker' in navigator)) return
  // After the page's own files: the worker then fetches all of them again to cache them.
  if (document.readyState !== 'complete') {
    await new Promise((resolve) => window.addEventListener('load', resolve, { once: true }))
  }
  const registration = await navigator.serviceWorker.register('./sw.js')
  // A worker that installs while another controls the page is a new version; the first one
  // (no controller yet) takes over by itself and is no news.
  const reportWhenInstalled = (worker: ServiceWorker | null) => {
    const check = () => {
      if (worker?.state === 'installed' && navigator.serviceWorker.controller) {
        callbacks.onUpdateReady()
      }
    }
    check()
    worker?.addEventListener('statechange', check)
  }
  // The check the page load itself started may have found one already.
  reportWhenInstalled(registration.waiting ?? registration.installing)
  registration.addEventListener('updatefound', () => reportWhenInstalled(registration.installing))
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') registration.update().catch(() => undefined)
  })
}

/** Let the waiting version take over, and reload the page into it. */
export async function applyUpdate(): Promise<void> {
  const registration = await navigator.serviceWorker.getRegistration()
  const waiting = registration?.waiting
  if (!waiting) {
    location.reload()
    return
  }
  navigator.serviceWorker.addEventListener('controllerchange', () => location.reload(), {
    once: true,
  })
  waiting.postMessage('skip-waiting')
}
