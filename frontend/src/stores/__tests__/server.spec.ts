// @vitest-environment jsdom
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { stubFetch } from '../../services/__tests__/streams'
import { useServerStore } from '../server'

const model = { id: 'qwen', file: 'qwen.gguf' }
const info = (fields: Record<string, unknown>) =>
  new Response(
    JSON.stringify({ name: 'pocketchat', version: '0', n_ctx: 4096, fallback: null, ...fields }),
  )

beforeEach(() => {
  vi.useFakeTimers()
  setActivePinia(createPinia())
})
afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

describe('server store', () => {
  it.each([
    ['a loaded model', { status: 'ok', model }, 'ready'],
    ['a model still loading', { status: 'loading', model: null }, 'loading'],
    ['a model that failed to load', { status: 'error', error: 'bad file', model: null }, 'failed'],
  ])('reads /api/info with %s', async (_name, fields, state) => {
    stubFetch(() => info(fields))
    const server = useServerStore()
    await server.loadInfo()
    expect(server.state).toBe(state)
  })

  it('asks again until the model is loaded', async () => {
    let calls = 0
    stubFetch(() => info(++calls < 3 ? { status: 'loading', model: null } : { model }))
    const server = useServerStore()
    await server.loadInfo()
    await vi.runAllTimersAsync()
    expect(server.state).toBe('ready')
    expect(server.info?.model?.id).toBe('qwen')
  })

  it('says the server is down when it cannot be reached', async () => {
    stubFetch(() => Promise.reject(new TypeError('Failed to fetch')))
    const server = useServerStore()
    await server.loadInfo()
    expect(server.state).toBe('down')
  })
})
