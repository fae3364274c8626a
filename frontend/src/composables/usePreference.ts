// A small value remembered in localStorage as JSON under `pocketchat.<name>` (VueUse's useStorage):
// generation settings, UI language and theme, the API key. A missing, corrupt or foreign value
// reads as the fallback, and null removes the entry.
import { useStorage } from '@vueuse/core'
import type { Ref } from 'vue'

const PREFIX = 'pocketchat.'

export function usePreference<T>(options: {
  name: string
  /** The stored value as a T, or null when it is not one. */
  read: (value: unknown) => T | null
  fallback: T
}): Ref<T> {
  const { read, fallback } = options
  return useStorage<T>(PREFIX + options.name, fallback, undefined, {
    serializer: {
      read: (raw) => {
        try {
          return read(JSON.parse(raw)) ?? fallback
        } catch {
          return fallback
        }
      },
      write: (value) => JSON.stringify(value),
    },
    // Written when it changes, never just because it was read; other tabs' changes show on reload.
    writeDefaults: false,
    listenToStorageChanges: false,
    // Storage full or disabled (private mode): the value lasts for this visit only.
    onError: () => {},
  })
}
