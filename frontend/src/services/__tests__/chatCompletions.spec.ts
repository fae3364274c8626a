import { afterEach, describe, expect, it, vi } from 'vitest'
import { streamChatCompletion, type StreamEvent } from '../chatCompletions'
import { ApiError } from '../http'
import type { ChatCompletionRequest } from '../../types/api'
import { deltaFrame, frame, sseResponse, stubFetch, usageFrame } from './streams'

const request: ChatCompletionRequest = {
  messages: [{ role: 'user', content: 'hi' }],
  stream: true,
  temperature: 0.7,
  top_p: 0.9,
  max_tokens: 16,
  context_overflow: 'summarize',
}
const id = 'chatcmpl-1'
const delta = (content: string) => deltaFrame(id, content)

async function run() {
  const deltas: string[] = []
  const events: StreamEvent[] = []
  const errors: unknown[] = []
  const result = await streamChatCompletion(
    request,
    { signal: new AbortController().signal },
    {
      onDelta: (text) => deltas.push(text),
      onEvent: (event) => events.push(event),
      onError: (error) => errors.push(error),
    },
  )
  return { result, deltas, events, errors }
}

afterEach(() => vi.unstubAllGlobals())

describe('streamChatCompletion', () => {
  it('streams deltas and ends with usage, timings and context', async () => {
    const usage = usageFrame(id, { covers: 4, hash: 'h', text: 'earlier' })
    stubFetch(() =>
      sseResponse([
        frame({ id, choices: [], status: { state: 'queued', queue_position: 2 } }) + ': ping\n\n',
        frame({ id, choices: [{ index: 0, delta: { role: 'assistant', content: '' } }] }),
        delta('Hel').slice(0, 10),
        delta('Hel').slice(10) + delta('lo'),
        frame({ id, choices: [{ index: 0, delta: {}, finish_reason: 'length' }] }) + usage,
        'data: [DONE]\n\n',
      ]),
    )
    const { result, deltas, events } = await run()
    expect(deltas).toEqual(['Hel', 'lo'])
    expect(events).toEqual([
      { type: 'started', id },
      { type: 'status', status: { state: 'queued', queue_position: 2 } },
      { type: 'heartbeat' },
    ])
    expect(result).toMatchObject({
      id,
      content: 'Hello',
      finishReason: 'length',
      complete: true,
      timings: { time_to_first_token_ms: 42 },
      context: { summarized_messages: 4, summary: { covers: 4 } },
    })
  })

  it('collects reasoning_content apart from the answer', async () => {
    const thinking = (text: string) =>
      frame({ id, choices: [{ index: 0, delta: { reasoning_content: text } }] })
    stubFetch(() =>
      sseResponse([
        frame({ id, choices: [{ index: 0, delta: { role: 'assistant', content: '' } }] }),
        thinking('The user says hi. '),
        thinking('Greet back.'),
        delta('Hello!'),
        'data: [DONE]\n\n',
      ]),
    )
    const order: string[] = []
    const result = await streamChatCompletion(
      request,
      { signal: new AbortController().signal },
      {
        onDelta: (text) => order.push(`answer:${text}`),
        onReasoning: (text) => order.push(`thinking:${text}`),
      },
    )
    expect(order).toEqual(['thinking:The user says hi. ', 'thinking:Greet back.', 'answer:Hello!'])
    expect(result).toMatchObject({ reasoning: 'The user says hi. Greet back.', content: 'Hello!' })
  })

  it('splits a <think> block that an older server leaves in the content', async () => {
    stubFetch(() =>
      sseResponse([
        delta('<thi'),
        delta('nk>\nThe user says hi.'),
        delta('\n</think>\n\nHel'),
        delta('lo!'),
        'data: [DONE]\n\n',
      ]),
    )
    const { result, deltas } = await run()
    expect(deltas.join('')).toBe('Hello!')
    expect(result).toMatchObject({ reasoning: 'The user says hi.', content: 'Hello!' })
  })

  it('leaves the answer alone once the server has split the thinking itself', async () => {
    stubFetch(() =>
      sseResponse([
        frame({ id, choices: [{ index: 0, delta: { reasoning_content: 'Tags?' } }] }),
        delta('<think> is how models mark thinking.'),
        'data: [DONE]\n\n',
      ]),
    )
    expect((await run()).result).toMatchObject({
      reasoning: 'Tags?',
      content: '<think> is how models mark thinking.',
    })
  })

  it('gives out a held-back tag start as answer when the stream ends', async () => {
    stubFetch(() => sseResponse([delta('<th')]))
    const { result, deltas } = await run()
    expect(deltas).toEqual(['<th'])
    expect(result).toMatchObject({ content: '<th', reasoning: '', complete: false })
  })

  it('reports an error frame and keeps the text before it', async () => {
    const error = { message: 'boom', type: 'server_error', code: 'server_shutdown' }
    stubFetch(() => sseResponse([delta('partial'), frame({ error }), 'data: [DONE]\n\n']))
    const { result, errors } = await run()
    expect(errors).toEqual([error])
    expect(result).toMatchObject({ content: 'partial', error, complete: true })
  })

  it('marks a stream that closed without [DONE] as incomplete', async () => {
    stubFetch(() => sseResponse([delta('cut')]))
    expect((await run()).result.complete).toBe(false)
  })

  it.each([
    [429, 'busy', 7],
    [503, 'loading', 3],
    [401, 'unauthorized', undefined],
    [400, 'http', undefined],
  ])('turns HTTP %i into an ApiError "%s"', async (status, failure, retryAfter) => {
    stubFetch(
      () =>
        new Response(JSON.stringify({ error: { message: 'nope', type: 'x', code: 'c' } }), {
          status,
          headers: retryAfter ? { 'Retry-After': String(retryAfter) } : {},
        }),
    )
    const error: unknown = await run().catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(ApiError)
    expect(error).toMatchObject({ failure, status, retryAfterSeconds: retryAfter, message: 'nope' })
  })

  it('turns a refused connection into a network ApiError', async () => {
    stubFetch(() => Promise.reject(new TypeError('Failed to fetch')))
    await expect(run()).rejects.toMatchObject({ failure: 'network' })
  })

  it('sends the API key as a Bearer token', async () => {
    const fetchMock = stubFetch(() => sseResponse(['data: [DONE]\n\n']))
    await streamChatCompletion(
      request,
      { signal: new AbortController().signal, apiKey: 'k1' },
      { onDelta: () => undefined },
    )
    const init = fetchMock.mock.calls[0]?.[1]
    expect(init?.headers).toMatchObject({ Authorization: 'Bearer k1' })
  })

  it('reports the sources frame before the first token, and keeps them in the result', async () => {
    const source = {
      index: 1,
      id: 'chunk-1',
      file_id: 'file-1',
      filename: 'policy.pdf',
      vector_store_id: 'vs-1',
      page: 2,
      heading: null,
      snippet: 'Six hundred yuan a night.',
      score: 0.03,
    }
    stubFetch(() =>
      sseResponse([
        frame({ id: 'c1', choices: [], sources: [source] }),
        deltaFrame('c1', 'Six hundred [1].'),
        'data: [DONE]\n\n',
      ]),
    )
    const order: string[] = []
    const result = await streamChatCompletion(
      request,
      { signal: new AbortController().signal },
      {
        onDelta: () => order.push('delta'),
        onSources: (sources) => order.push(`sources:${sources.length}`),
      },
    )
    expect(order).toEqual(['sources:1', 'delta'])
    expect(result.sources).toEqual([source])
  })

  it('has no sources when the request searched no documents, [] when nothing matched', async () => {
    stubFetch(() => sseResponse([deltaFrame('c1', 'hi'), 'data: [DONE]\n\n']))
    const signal = new AbortController().signal
    expect((await streamChatCompletion(request, { signal }, { onDelta: () => 0 })).sources).toBe(
      null,
    )
    stubFetch(() =>
      sseResponse([frame({ id: 'c1', choices: [], sources: [] }), 'data: [DONE]\n\n']),
    )
    expect((await streamChatCompletion(request, { signal }, { onDelta: () => 0 })).sources).toEqual(
      [],
    )
  })
})
