// The app itself: a new version waiting to take over (service worker), and whether the browser
// is online. The server's own state (reachable, loading) is the server store's.
import { useOnline } from '@vueuse/core'
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { applyUpdate, registerServiceWorker } from '../services/appUpdates'

export const useAppShellStore = defineStore('appShell', () => {
  const updateReady = ref(false)
  const online = useOnline()

  /** Register the service worker; the built app only (the dev server serves no sw.js). */
  function start(): void {
    if (!import.meta.env.PROD) return
    registerServiceWorker({ onUpdateReady: () => (updateReady.value = true) }).catch(
      // No worker (a private window, a refused registration): the page works as before.
      () => undefined,
    )
  }

  function reloadIntoUpdate(): Promise<void> {
    return applyUpdate()
  }

  return { updateReady, online, start, reloadIntoUpdate }
})
