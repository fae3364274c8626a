import 'fake-indexeddb/auto'
import { describe, expect, it } from 'vitest'
import { reactive } from 'vue'
import { activePath } from '../../lib/messageTree'
import {
  addConversation,
  deleteConversation,
  describeSaveFailure,
  listConversations,
  loadAllConversations,
  loadConversation,
  saveConversation,
} from '../conversationDb'
import type { ChatMessage, Conversation } from '../../types/chat'
import { failWrites } from './failingStorage'

function conversation(id: string, updatedAt: number): Conversation {
  return {
    id,
    title: `title ${id}`,
    titleEdited: false,
    createdAt: 1,
    updatedAt,
    messages: [
      {
        id: `${id}-1`,
        parentId: null,
        role: 'user',
        content: '你好',
        createdAt: 1,
        status: 'done',
      },
      {
        id: `${id}-2`,
        parentId: `${id}-1`,
        role: 'assistant',
        content: 'Hi!',
        createdAt: 2,
        status: 'stopped',
        stats: { timeToFirstTokenMs: 10, decodeTokensPerSecond: 20 },
      },
    ],
    currentId: `${id}-2`,
    contextSummary: { covers: 2, hash: 'abc', text: 'summary' },
  }
}

/** A record as the app stored it before message versions: no parentId, no currentId. */
function storedBeforeVersions(id: string): Conversation {
  const record = structuredClone(conversation(id, 5)) as Partial<Conversation>
  delete record.currentId
  for (const message of record.messages ?? []) delete (message as Partial<ChatMessage>).parentId
  return record as Conversation
}

describe('conversationDb', () => {
  it('stores reactive conversations and reads them back whole', async () => {
    const stored = reactive(conversation('a', 10))
    await saveConversation(stored)
    expect(await loadConversation('a')).toEqual(conversation('a', 10))
  })

  it('lists conversations newest first', async () => {
    await saveConversation(conversation('old', 20))
    await saveConversation(conversation('new', 30))
    const ids = (await listConversations()).map((meta) => meta.id)
    expect(ids.indexOf('new')).toBeLessThan(ids.indexOf('old'))
  })

  it('replaces a conversation saved again under the same id', async () => {
    await saveConversation(conversation('b', 40))
    await saveConversation({ ...conversation('b', 50), title: 'renamed' })
    expect((await listConversations()).filter((meta) => meta.id === 'b')).toEqual([
      { id: 'b', title: 'renamed', updatedAt: 50 },
    ])
  })

  it('deletes', async () => {
    await saveConversation(conversation('c', 60))
    await deleteConversation('c')
    expect(await loadConversation('c')).toBeUndefined()
  })
})

describe('reading what older versions stored', () => {
  it('opens a conversation stored before message versions unchanged, as one line', async () => {
    await saveConversation(storedBeforeVersions('legacy'))
    const read = await loadConversation('legacy')
    expect(read).toEqual(conversation('legacy', 5))
    expect(activePath(read!).map((message) => message.content)).toEqual(['你好', 'Hi!'])
  })

  it('keeps a conversation whose record is damaged, with every message that can be shown', async () => {
    const damaged = {
      ...storedBeforeVersions('damaged'),
      title: 7,
      messages: [
        null,
        { id: 'ok', role: 'user', content: 'still here', createdAt: 1 },
        { id: 'bad', role: 'robot', content: 'x' },
        { role: 'assistant', content: 'no id' },
      ],
    } as unknown as Conversation
    await saveConversation(damaged)
    const read = (await loadAllConversations()).find((item) => item.id === 'damaged')
    expect(read).toMatchObject({ title: '', currentId: 'ok' })
    expect(activePath(read!).map((message) => message.content)).toEqual(['still here'])
  })
})

describe('addConversation', () => {
  it('stores a new record under a fresh id rather than replace the one with its id', async () => {
    await saveConversation(conversation('taken', 70))
    const stored = await addConversation(
      { ...conversation('taken', 80), title: 'other' },
      () => 'fresh',
    )
    expect(stored.id).toBe('fresh')
    expect(await loadConversation('taken')).toEqual(conversation('taken', 70))
    expect(await loadConversation('fresh')).toEqual({
      ...conversation('taken', 80),
      id: 'fresh',
      title: 'other',
    })
  })

  it('gives up rather than replace, when every fresh id is taken too', async () => {
    await saveConversation(conversation('only', 90))
    const adding = addConversation({ ...conversation('only', 95), title: 'other' }, () => 'only')
    await expect(adding).rejects.toMatchObject({ name: 'ConstraintError' })
    expect(await loadConversation('only')).toEqual(conversation('only', 90))
  })
})

describe('describeSaveFailure', () => {
  it('tells a full disk apart from other failures', () => {
    expect(describeSaveFailure(new DOMException('no room', 'QuotaExceededError'))).toEqual({
      kind: 'quota',
    })
    expect(describeSaveFailure(new DOMException('backing store', 'UnknownError'))).toEqual({
      kind: 'other',
      message: 'backing store',
    })
  })

  it('reports a write the disk refuses as a full disk', async () => {
    const restore = failWrites()
    try {
      const saving = saveConversation(conversation('full', 100))
      await expect(saving.catch(describeSaveFailure)).resolves.toEqual({ kind: 'quota' })
    } finally {
      restore()
    }
    expect(await loadConversation('full')).toBeUndefined()
  })
})
