// @vitest-environment jsdom
import { describe, expect, it } from 'vitest'
import type { ChatMessage } from '../../types/chat'
import { createReplyWriter } from '../replyWriter'

function setup() {
  const message: ChatMessage = {
    id: 'r',
    parentId: null,
    role: 'assistant',
    content: '',
    createdAt: 0,
    status: 'streaming',
  }
  const clock = { now: 1000 }
  const thinkingStarts: number[] = []
  let writes = 0
  const writer = createReplyWriter({
    message,
    onWrite: () => (writes += 1),
    onThinking: (since) => thinkingStarts.push(since),
    now: () => clock.now,
  })
  return { message, clock, thinkingStarts, writer, writes: () => writes }
}

const nextFrame = () => new Promise((resolve) => requestAnimationFrame(resolve))

describe('createReplyWriter', () => {
  it('times the thinking from its first piece to the first piece of the answer', () => {
    const { message, clock, thinkingStarts, writer } = setup()
    writer.reasoning('Let me ')
    clock.now = 5000
    writer.reasoning('see.')
    clock.now = 13_000
    writer.content('Yes')
    clock.now = 20_000
    writer.content('.')
    writer.end()
    expect(message).toMatchObject({
      reasoning: 'Let me see.',
      content: 'Yes.',
      reasoningMs: 12_000,
    })
    expect(thinkingStarts).toEqual([1000])
  })

  it('writes each part at most once per frame', async () => {
    const { message, writer, writes } = setup()
    writer.reasoning('a')
    writer.reasoning('b')
    writer.content('c')
    writer.content('d')
    expect(message.content).toBe('')
    await nextFrame()
    expect(message).toMatchObject({ reasoning: 'ab', content: 'cd' })
    expect(writes()).toBe(2)
  })

  it('settles the time of a reply that ended while still thinking', () => {
    const { message, clock, writer } = setup()
    writer.reasoning('Hmm')
    clock.now = 4000
    writer.end()
    expect(message).toMatchObject({ reasoning: 'Hmm', content: '', reasoningMs: 3000 })
  })

  it('leaves a reply without thinking without a time', () => {
    const { message, writer, thinkingStarts } = setup()
    writer.content('Hi')
    writer.end()
    expect(message.reasoningMs).toBeUndefined()
    expect(message.reasoning).toBeUndefined()
    expect(thinkingStarts).toEqual([])
  })
})
