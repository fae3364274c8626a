// The server as the app sees it: reachable or not, the model it serves (GET /api/info), and the
// API key, asked for in a dialog the first time the server answers 401.
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { usePreference } from '../composables/usePreference'
import { ApiError } from '../services/http'
import { fetchServerInfo } from '../services/serverInfo'
import type { ServerInfo } from '../types/api'

export type ServerState = 'unknown' | 'ready' | 'loading' | 'failed' | 'down'

const INFO_RETRY_MS = [2000, 4000, 8000, 15000]

export const useServerStore = defineStore('server', () => {
  const info = ref<ServerInfo | null>(null)
  const state = ref<ServerState>('unknown')
  const apiKey = usePreference<string | null>({
    name: 'apiKey',
    read: (value) => (typeof value === 'string' ? value : null),
    fallback: null,
  })
  const keyDialogOpen = ref(false)
  const keyRejected = ref(false)
  let resolveKey: ((key: string | null) => void) | null = null
  let infoAttempts = 0

  function requestApiKey(): Promise<string | null> {
    resolveKey?.(null)
    keyDialogOpen.value = true
    return new Promise((resolve) => (resolveKey = resolve))
  }

  function answerKeyDialog(key: string | null): void {
    keyDialogOpen.value = false
    if (key !== null) apiKey.value = key.trim()
    resolveKey?.(key === null ? null : apiKey.value)
    resolveKey = null
  }

  /** Run a call with the key; on 401 ask for a key and try again until it works or is refused. */
  async function authorized<T>(call: (key: string | null) => Promise<T>): Promise<T> {
    for (;;) {
      try {
        const result = await call(apiKey.value)
        keyRejected.value = false
        return result
      } catch (error) {
        if (!(error instanceof ApiError) || error.failure !== 'unauthorized') throw error
        keyRejected.value = apiKey.value !== null
        if ((await requestApiKey()) === null) throw error
      }
    }
  }

  function retryInfoLater(): void {
    const delay = INFO_RETRY_MS[Math.min(infoAttempts++, INFO_RETRY_MS.length - 1)]
    setTimeout(() => void loadInfo(), delay)
  }

  async function loadInfo(): Promise<void> {
    try {
      info.value = await authorized(fetchServerInfo)
    } catch (error) {
      const failure = error instanceof ApiError ? error.failure : 'network'
      // The user closed the key dialog: asking again on a timer would only nag.
      if (failure === 'unauthorized') return
      state.value = failure === 'loading' ? 'loading' : 'down'
      retryInfoLater()
      return
    }
    // While the model loads (or after it failed to) the server answers with `model: null`.
    if (info.value.model) {
      state.value = 'ready'
      infoAttempts = 0
    } else {
      state.value = info.value.status === 'error' ? 'failed' : 'loading'
      retryInfoLater()
    }
  }

  return {
    info,
    state,
    apiKey,
    keyDialogOpen,
    keyRejected,
    answerKeyDialog,
    authorized,
    loadInfo,
  }
})
