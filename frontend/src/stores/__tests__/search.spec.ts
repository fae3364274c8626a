import 'fake-indexeddb/auto'
import { createPinia, setActivePinia } from 'pinia'
import { describe, expect, it, vi } from 'vitest'
import { deleteConversation, saveConversation } from '../../services/conversationDb'
import type { ChatMessage, Conversation } from '../../types/chat'
import { useConversationsStore } from '../conversations'
import { useSearchStore } from '../search'

let clock = 1_000
function conversation(id: string, contents: string[]): Conversation {
  const messages: ChatMessage[] = contents.map((content, index) => ({
    id: `${id}-${index}`,
    parentId: index === 0 ? null : `${id}-${index - 1}`,
    role: index % 2 === 0 ? 'user' : 'assistant',
    content,
    createdAt: index,
  }))
  return {
    id,
    title: contents[0] ?? '',
    titleEdited: false,
    createdAt: 0,
    updatedAt: ++clock,
    messages,
    currentId: messages.at(-1)?.id ?? null,
    contextSummary: null,
  }
}

async function setup(stored: Conversation[]) {
  for (const item of stored) await saveConversation(item)
  setActivePinia(createPinia())
  const conversations = useConversationsStore()
  await conversations.init()
  const search = useSearchStore()
  await search.prepare()
  return { conversations, search }
}

const found = (search: ReturnType<typeof useSearchStore>) =>
  search.results.map((match) => match.conversationId)

describe('search store', () => {
  it('finds stored conversations, and follows saves and deletions', async () => {
    const { conversations, search } = await setup([
      conversation('s-old', ['about gardens', 'Tomatoes need sun.']),
      conversation('s-new', ['about boats', 'A keel keeps it upright.']),
    ])
    search.query = 'TOMATO'
    expect(found(search)).toEqual(['s-old'])

    // A conversation saved after the index was built is found too.
    conversations.newChat()
    const fresh = conversations.active!
    fresh.messages.push({
      id: 'q',
      parentId: null,
      role: 'user',
      content: 'Tomato soup?',
      createdAt: 1,
    })
    fresh.currentId = 'q'
    await conversations.save(fresh)
    await vi.waitFor(() => expect(found(search)).toEqual([fresh.id, 's-old']))

    await conversations.remove('s-old')
    await vi.waitFor(() => expect(found(search)).toEqual([fresh.id]))
    await deleteConversation(fresh.id)
  })

  it('opens a match in another version: that version is shown, the match remembered', async () => {
    const branched = conversation('s-branched', ['question', 'first answer'])
    branched.messages.push({
      id: 'second',
      parentId: 's-branched-0',
      role: 'assistant',
      content: 'second answer',
      createdAt: 2,
    })
    branched.currentId = 'second'
    const { conversations, search } = await setup([branched])
    search.query = 'first'
    const [match] = search.results.filter((item) => item.conversationId === 's-branched')
    await search.open(match!)
    expect(conversations.activeId).toBe('s-branched')
    expect(conversations.activeMessages.map((message) => message.content)).toEqual([
      'question',
      'first answer',
    ])
    expect(search.opened).toEqual({
      conversationId: 's-branched',
      messageId: 's-branched-1',
      query: 'first',
    })
    search.clear()
    expect([search.query, search.opened, search.results]).toEqual(['', null, []])
  })
})
