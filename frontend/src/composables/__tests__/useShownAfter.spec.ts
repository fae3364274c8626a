import { afterEach, describe, expect, it, vi } from 'vitest'
import { effectScope, nextTick, ref } from 'vue'
import { useShownAfter } from '../useShownAfter'

afterEach(() => vi.useRealTimers())

function setup() {
  vi.useFakeTimers()
  const when = ref(false)
  const scope = effectScope()
  const shown = scope.run(() => useShownAfter({ when, delayMs: 300 }))!
  return { when, shown, scope }
}

describe('useShownAfter', () => {
  it('never shows what ends within the delay', async () => {
    const { when, shown } = setup()
    when.value = true
    await nextTick()
    vi.advanceTimersByTime(290)
    when.value = false
    await nextTick()
    vi.advanceTimersByTime(1000)
    expect(shown.value).toBe(false)
  })

  it('shows what lasts past the delay, and hides it at once when it ends', async () => {
    const { when, shown } = setup()
    when.value = true
    await nextTick()
    vi.advanceTimersByTime(300)
    expect(shown.value).toBe(true)
    when.value = false
    await nextTick()
    expect(shown.value).toBe(false)
  })

  it('forgets its timer when its scope ends', async () => {
    const { when, shown, scope } = setup()
    when.value = true
    await nextTick()
    scope.stop()
    vi.advanceTimersByTime(1000)
    expect(shown.value).toBe(false)
  })
})
