// Small values kept in localStorage: generation settings, UI language and theme, the API key.
// A missing, corrupt or foreign value reads as "not set".

const PREFIX = 'pocketchat.'

export function readPreference<T>(name: string, accept: (value: unknown) => value is T): T | null {
  try {
    const raw = localStorage.getItem(PREFIX + name)
    if (raw === null) return null
    const value: unknown = JSON.parse(raw)
    return accept(value) ? value : null
  } catch {
    return null
  }
}

export function writePreference(name: string, value: unknown): void {
  try {
    if (value === null || value === undefined) localStorage.removeItem(PREFIX + name)
    else localStorage.setItem(PREFIX + name, JSON.stringify(value))
  } catch {
    // Storage full or disabled (private mode): the setting lasts for this visit only.
  }
}
