// @vitest-environment jsdom
import 'fake-indexeddb/auto'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  deltaFrame,
  frame,
  sseResponse,
  stubFetch,
  usageFrame,
} from '../../services/__tests__/streams'
import { activePath } from '../../lib/messageTree'
import { loadConversation } from '../../services/conversationDb'
import { failWrites } from '../../services/__tests__/failingStorage'
import type { ChatCompletionRequest } from '../../types/api'
import { useAttachmentsStore } from '../attachments'
import { useChatStore } from '../chat'
import { useConversationsStore } from '../conversations'
import { useServerStore } from '../server'

const id = 'chatcmpl-7'
const delta = (content: string) => deltaFrame(id, content)
const finalFrames = (summary: { covers: number; hash: string; text: string } | null = null) =>
  frame({ id, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }) +
  usageFrame(id, summary) +
  'data: [DONE]\n\n'

function requestBody(call: unknown[] | undefined): ChatCompletionRequest {
  return JSON.parse(String((call?.[1] as RequestInit).body)) as ChatCompletionRequest
}

/** A reply that sends one delta, then waits until the request is aborted. */
function hangingReply(init: RequestInit | undefined): Response {
  const encoder = new TextEncoder()
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(delta('partial')))
      init?.signal?.addEventListener('abort', () =>
        controller.error(new DOMException('aborted', 'AbortError')),
      )
    },
  })
  return new Response(body)
}

/** A reply whose frames the test sends one by one; it ends when the request is aborted. */
function controlledReply() {
  const encoder = new TextEncoder()
  let send: (text: string) => void = () => {
    throw new Error('the reply was not requested yet')
  }
  return {
    respond(init: RequestInit | undefined): Response {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          send = (frames) => controller.enqueue(encoder.encode(frames))
          init?.signal?.addEventListener('abort', () =>
            controller.error(new DOMException('aborted', 'AbortError')),
          )
        },
      })
      return new Response(body)
    },
    send: (frames: string) => send(frames),
  }
}

async function setup() {
  setActivePinia(createPinia())
  localStorage.clear()
  const conversations = useConversationsStore()
  await conversations.init()
  conversations.newChat()
  return { chat: useChatStore(), conversations, server: useServerStore() }
}

let restoreWrites = () => {}
afterEach(() => {
  restoreWrites()
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

describe('chat store', () => {
  it('streams a reply, records its numbers and stores the conversation', async () => {
    stubFetch(() => sseResponse([delta('Hel'), delta('lo'), finalFrames()]))
    const { chat, conversations } = await setup()
    await chat.send('Tell me a story\nplease')
    const conversation = conversations.active!
    expect(conversation.title).toBe('Tell me a story please')
    expect(conversation.messages[1]).toMatchObject({
      role: 'assistant',
      content: 'Hello',
      status: 'done',
      stats: { timeToFirstTokenMs: 42, decodeTokensPerSecond: 12.5, completionTokens: 2 },
    })
    expect((await loadConversation(conversation.id))?.messages[1]?.content).toBe('Hello')
  })

  it('keeps a summary and sends it back as context_summary, with the full history', async () => {
    const summary = { covers: 2, hash: 'h1', text: 'They talked.' }
    const fetchMock = stubFetch(() => sseResponse([delta('ok'), finalFrames(summary)]))
    const { chat, conversations } = await setup()
    await chat.send('first')
    expect(conversations.active!.contextSummary).toEqual(summary)
    expect(conversations.active!.messages[1]?.context).toMatchObject({
      summarizedMessages: 2,
      summaryText: 'They talked.',
    })
    await chat.send('second')
    const body = requestBody(fetchMock.mock.calls[1])
    expect(body.context_summary).toEqual(summary)
    expect(body.messages.map((m) => m.content).slice(1)).toEqual(['first', 'ok', 'second'])
  })

  it('stops a reply: the request is aborted, the server told, the partial text kept', async () => {
    const fetchMock = vi.fn(async (url: string | URL | Request, init?: RequestInit) =>
      String(url).endsWith('/cancel') ? new Response('{}') : hangingReply(init),
    )
    vi.stubGlobal('fetch', fetchMock)
    const { chat, conversations } = await setup()
    const sending = chat.send('go')
    await vi.waitFor(() => expect(conversations.active!.messages[1]?.content).toBe('partial'))
    chat.stop()
    await sending
    expect(conversations.active!.messages[1]).toMatchObject({
      content: 'partial',
      status: 'stopped',
    })
    expect(fetchMock.mock.calls.map((call) => String(call[0]))).toContain(
      `v1/chat/completions/${id}/cancel`,
    )
    expect(chat.isGenerating).toBe(false)
  })

  it('reports a full disk while a reply streams, keeps the text, clears once a save works', async () => {
    // Only Date is faked: the reply is stored at most once a second of this clock.
    vi.useFakeTimers({ toFake: ['Date'] })
    const reply = controlledReply()
    vi.stubGlobal('fetch', async (url: string | URL | Request, init?: RequestInit) =>
      String(url).endsWith('/cancel') ? new Response('{}') : reply.respond(init),
    )
    const { chat, conversations } = await setup()
    const sending = chat.send('go')
    await vi.waitFor(() => expect(chat.isGenerating).toBe(true))
    const conversation = conversations.active!
    const stored = async () => (await loadConversation(conversation.id))?.messages[1]?.content

    restoreWrites = failWrites()
    vi.advanceTimersByTime(1000)
    reply.send(delta('Hel'))
    await vi.waitFor(() => expect(conversations.saveFailure).toEqual({ kind: 'quota' }))
    expect(chat.isGenerating).toBe(true)
    expect(conversation.messages.map((message) => message.content)).toEqual(['go', 'Hel'])
    expect(await stored()).toBe('')

    restoreWrites()
    vi.advanceTimersByTime(1000)
    reply.send(delta('lo'))
    await vi.waitFor(() => expect(conversations.saveFailure).toBeNull())
    expect(chat.isGenerating).toBe(true)
    expect(await stored()).toBe('Hello')

    chat.stop()
    await sending
    expect((await loadConversation(conversation.id))?.messages[1]).toMatchObject({
      content: 'Hello',
      status: 'stopped',
    })
  })

  it('still asks for the reply when the disk refuses to store the question', async () => {
    stubFetch(() => sseResponse([delta('ok'), finalFrames()]))
    const { chat, conversations } = await setup()
    restoreWrites = failWrites()
    await chat.send('hi')
    expect(conversations.active!.messages.map((message) => message.content)).toEqual(['hi', 'ok'])
    expect(conversations.saveFailure).toEqual({ kind: 'quota' })
  })

  it('explains a busy server with its Retry-After', async () => {
    stubFetch(() => new Response('{}', { status: 429, headers: { 'Retry-After': '5' } }))
    const { chat, conversations } = await setup()
    await chat.send('hi')
    expect(conversations.active!.messages[1]).toMatchObject({
      status: 'error',
      error: { kind: 'busy', retryAfterSeconds: 5 },
    })
  })

  it('asks for the API key on 401 and retries with it', async () => {
    let calls = 0
    const fetchMock = stubFetch(() =>
      ++calls === 1
        ? new Response('{}', { status: 401 })
        : sseResponse([delta('in'), finalFrames()]),
    )
    const { chat, conversations, server } = await setup()
    const sending = chat.send('hi')
    await vi.waitFor(() => expect(server.keyDialogOpen).toBe(true))
    server.answerKeyDialog('secret')
    await sending
    expect((fetchMock.mock.calls[1]?.[1]?.headers as Record<string, string>).Authorization).toBe(
      'Bearer secret',
    )
    expect(conversations.active!.messages[1]?.content).toBe('in')
    expect(localStorage.getItem('pocketchat.apiKey')).toBe('"secret"')
  })

  it('regenerates and edits as new versions, keeps the old ones, sends the one shown', async () => {
    let reply = 0
    const fetchMock = stubFetch(() => sseResponse([delta(`r${++reply}`), finalFrames()]))
    const { chat, conversations } = await setup()
    const shown = () => conversations.activeMessages.map((message) => message.content)
    // The system prompt first, then the dialogue.
    const sent = (call: number) => requestBody(fetchMock.mock.calls[call]).messages.slice(1)
    await chat.send('one')
    await chat.send('two')
    await chat.regenerate()
    expect(shown()).toEqual(['one', 'r1', 'two', 'r3'])
    expect(sent(2).map((message) => message.content)).toEqual(['one', 'r1', 'two'])
    const r3 = conversations.activeMessages[3]!
    expect(conversations.activeVersions.get(r3.id)).toMatchObject({ index: 1 })

    await chat.editAndResend(conversations.activeMessages[0]!.id, 'uno')
    expect(shown()).toEqual(['uno', 'r4'])
    expect(sent(3).at(-1)).toEqual({ role: 'user', content: 'uno' })

    // Back to the first question: it shows with its newest replies, and the next send follows.
    await conversations.showVersion(conversations.active!.messages[0]!.id)
    expect(shown()).toEqual(['one', 'r1', 'two', 'r3'])
    await chat.send('three')
    expect(sent(4).map((message) => message.content)).toEqual(['one', 'r1', 'two', 'r3', 'three'])
    const stored = await loadConversation(conversations.active!.id)
    expect(stored?.messages.map((message) => message.content)).toEqual([
      'one',
      'r1',
      'two',
      'r2',
      'r3',
      'uno',
      'r4',
      'three',
      'r5',
    ])
    expect(activePath(stored!).map((message) => message.content)).toEqual(shown())
  })

  it("keeps a reply's thinking and its time, and never sends it back", async () => {
    const thinking = (text: string) =>
      frame({ id, choices: [{ index: 0, delta: { reasoning_content: text } }] })
    let calls = 0
    const fetchMock = stubFetch(() =>
      ++calls === 1
        ? sseResponse([
            thinking('They greet; '),
            thinking('greet back.'),
            delta('Hi!'),
            finalFrames(),
          ])
        : sseResponse([delta('<think>Again.</think>Sure.'), finalFrames()]),
    )
    const { chat, conversations } = await setup()
    await chat.send('hello')
    const reply = conversations.active!.messages[1]!
    expect(reply).toMatchObject({ content: 'Hi!', reasoning: 'They greet; greet back.' })
    expect(reply.reasoningMs).toBeGreaterThanOrEqual(0)
    expect((await loadConversation(conversations.active!.id))?.messages[1]).toMatchObject({
      reasoning: 'They greet; greet back.',
      reasoningMs: reply.reasoningMs,
    })

    await chat.send('again')
    expect(conversations.active!.messages[3]).toMatchObject({
      content: 'Sure.',
      reasoning: 'Again.',
    })
    const sent = requestBody(fetchMock.mock.calls[1]).messages
    expect(sent.slice(1)).toEqual([
      { role: 'user', content: 'hello' },
      { role: 'assistant', content: 'Hi!' },
      { role: 'user', content: 'again' },
    ])
    expect(JSON.stringify(sent)).not.toContain('greet back')
  })

  it('shows when the running reply started thinking, until it ends', async () => {
    const reply = controlledReply()
    vi.stubGlobal('fetch', async (url: string | URL | Request, init?: RequestInit) =>
      String(url).endsWith('/cancel') ? new Response('{}') : reply.respond(init),
    )
    const { chat, conversations } = await setup()
    const sending = chat.send('go')
    await vi.waitFor(() => expect(chat.isGenerating).toBe(true))
    const message = () => conversations.active!.messages[1]!
    const before = Date.now()
    reply.send(frame({ id, choices: [{ index: 0, delta: { reasoning_content: 'Hmm' } }] }))
    await vi.waitFor(() => expect(message().reasoning).toBe('Hmm'))
    expect(chat.liveThinkingSince(message().id)).toBeGreaterThanOrEqual(before)
    chat.stop()
    await sending
    // Stopped while thinking: the time is what it thought until then.
    expect(message()).toMatchObject({ status: 'stopped', content: '', reasoning: 'Hmm' })
    expect(message().reasoningMs).toBeGreaterThanOrEqual(0)
    expect(chat.liveThinkingSince(message().id)).toBeNull()
  })

  it('replaces a failed reply without a word on Retry rather than keep it as a version', async () => {
    let calls = 0
    stubFetch(() =>
      ++calls === 1
        ? new Response('{}', { status: 503 })
        : sseResponse([delta('fine'), finalFrames()]),
    )
    const { chat, conversations } = await setup()
    await chat.send('hi')
    expect(conversations.activeMessages[1]).toMatchObject({ status: 'error', content: '' })
    await chat.regenerate()
    expect(conversations.active!.messages.map((message) => message.content)).toEqual(['hi', 'fine'])
    expect(conversations.activeVersions.size).toBe(0)
  })

  it('waits for attached files to index, then asks with knowledge and stores the sources', async () => {
    const source = {
      index: 1,
      id: 'c',
      file_id: 'file-1',
      filename: 'a.md',
      vector_store_id: 'vs-chat',
      page: null,
      heading: 'Intro',
      snippet: 'x',
      score: 0.02,
    }
    const fetchMock = stubFetch(() =>
      sseResponse([frame({ id, choices: [], sources: [source] }), delta('ok'), finalFrames()]),
    )
    const { chat, conversations } = await setup()
    const attachments = useAttachmentsStore()
    const conversation = conversations.active!
    conversation.attachmentStoreId = 'vs-chat'
    conversation.sharedStoreIds = ['vs-shared']
    // One file indexing until the test says so, then ready.
    let finishIndexing: () => void = () => undefined
    const indexing = new Promise<void>((resolve) => (finishIndexing = resolve))
    let pending = true
    const oneFile = () => [{}] as ReturnType<typeof attachments.pending>
    vi.spyOn(attachments, 'pending').mockImplementation(() => (pending ? oneFile() : []))
    vi.spyOn(attachments, 'ready').mockImplementation(() => (pending ? [] : oneFile()))
    vi.spyOn(attachments, 'waitUntilIndexed').mockImplementation(() => indexing)
    const sending = chat.send('What does the intro say?')
    const reply = () => conversations.active!.messages[1]!
    await vi.waitFor(() =>
      expect(chat.liveKnowledge(reply().id)).toEqual({ kind: 'indexing', documents: 1 }),
    )
    expect(fetchMock).not.toHaveBeenCalled()
    pending = false
    finishIndexing()
    await sending
    expect(requestBody(fetchMock.mock.calls[0]).knowledge).toEqual({
      vector_store_ids: ['vs-chat', 'vs-shared'],
    })
    expect(reply().sources).toEqual([source])
    expect((await loadConversation(conversation.id))?.messages[1]?.sources).toEqual([source])
  })

  it('sends no knowledge for a conversation without documents', async () => {
    const fetchMock = stubFetch(() => sseResponse([delta('ok'), finalFrames()]))
    const { chat } = await setup()
    await chat.send('hi')
    expect(requestBody(fetchMock.mock.calls[0]).knowledge).toBeUndefined()
  })
})
