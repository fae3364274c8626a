// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from 'vitest'
import { nextTick } from 'vue'
import { usePreference } from '../usePreference'

const isString = (value: unknown): string | null => (typeof value === 'string' ? value : null)
const preference = () => usePreference({ name: 'key', read: isString, fallback: null })

afterEach(() => {
  localStorage.clear()
  vi.restoreAllMocks()
})

describe('usePreference', () => {
  it.each([
    ['missing', null],
    ['corrupt JSON', '{"no'],
    ['a foreign type', '42'],
  ])('reads a %s value as the fallback and leaves it stored as it was', async (_name, raw) => {
    if (raw !== null) localStorage.setItem('pocketchat.key', raw)
    const key = preference()
    await nextTick()
    expect([key.value, localStorage.getItem('pocketchat.key')]).toEqual([null, raw])
  })

  it('stores a change as JSON, and null removes it', async () => {
    const key = preference()
    key.value = 'secret'
    await nextTick()
    expect(localStorage.getItem('pocketchat.key')).toBe('"secret"')
    expect(preference().value).toBe('secret')
    key.value = null
    await nextTick()
    expect(localStorage.getItem('pocketchat.key')).toBeNull()
  })

  it('keeps the value for this visit when storage refuses it', async () => {
    vi.spyOn(Storage.prototype, 'setItem').mockImplementation(() => {
      throw new DOMException('full', 'QuotaExceededError')
    })
    const key = preference()
    key.value = 'secret'
    await nextTick()
    expect(key.value).toBe('secret')
  })
})
