import 'fake-indexeddb/auto'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createId } from '../../lib/ids'
import { loadConversation } from '../../services/conversationDb'
import { failWrites } from '../../services/__tests__/failingStorage'
import type { Conversation } from '../../types/chat'
import { useConversationsStore } from '../conversations'

// Ids the next createId() calls return, to make an import draw an id that is taken.
const forcedIds = vi.hoisted(() => [] as string[])
vi.mock('../../lib/ids', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../lib/ids')>()
  return { createId: () => forcedIds.shift() ?? real.createId() }
})

let restoreWrites = () => {}
afterEach(() => restoreWrites())

async function setup() {
  setActivePinia(createPinia())
  const conversations = useConversationsStore()
  await conversations.init()
  conversations.newChat()
  return conversations
}

function say(conversation: Conversation, content: string): void {
  const id = createId()
  conversation.messages.push({
    id,
    parentId: conversation.currentId,
    role: 'user',
    content,
    createdAt: Date.now(),
    status: 'done',
  })
  conversation.currentId = id
}

async function storedContents(id: string): Promise<string[] | undefined> {
  return (await loadConversation(id))?.messages.map((message) => message.content)
}

function exportedFile(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    format: 'pocketchat.conversation',
    version: 1,
    conversation: {
      title: 'Imported',
      messages: [
        { role: 'user', content: 'question' },
        { role: 'assistant', content: 'answer' },
      ],
      ...extra,
    },
  })
}

describe('saving', () => {
  it('reports a full disk, keeps the conversation on the page, clears once a save works', async () => {
    const conversations = await setup()
    const conversation = conversations.active!
    say(conversation, 'first')
    restoreWrites = failWrites()
    await conversations.save(conversation)
    expect(conversations.saveFailure).toEqual({ kind: 'quota' })
    expect(conversations.active!.messages.map((message) => message.content)).toEqual(['first'])
    expect(conversations.metas[0]).toMatchObject({ id: conversation.id, title: 'first' })
    expect(await loadConversation(conversation.id)).toBeUndefined()

    restoreWrites()
    say(conversation, 'second')
    await conversations.save(conversation)
    expect(conversations.saveFailure).toBeNull()
    expect(await storedContents(conversation.id)).toEqual(['first', 'second'])
  })

  it('reports any other IndexedDB failure in the browser’s words', async () => {
    const conversations = await setup()
    say(conversations.active!, 'hello')
    restoreWrites = failWrites('UnknownError')
    await conversations.save(conversations.active!)
    expect(conversations.saveFailure).toEqual({
      kind: 'other',
      message: 'UnknownError in a test',
    })
  })

  it('stores a conversation left unsaved with the next save of another one', async () => {
    const conversations = await setup()
    const unsaved = conversations.active!
    say(unsaved, 'left unsaved')
    restoreWrites = failWrites()
    await conversations.save(unsaved)

    restoreWrites()
    conversations.newChat()
    say(conversations.active!, 'next')
    await conversations.save(conversations.active!)
    expect(await storedContents(unsaved.id)).toEqual(['left unsaved'])
    expect(conversations.saveFailure).toBeNull()
  })

  it('stores what could not be stored once a deletion frees space', async () => {
    const conversations = await setup()
    const old = conversations.active!
    say(old, 'old')
    await conversations.save(old)
    conversations.newChat()
    const unsaved = conversations.active!
    say(unsaved, 'new')
    restoreWrites = failWrites()
    await conversations.save(unsaved)

    restoreWrites()
    await conversations.remove(old.id)
    expect(await storedContents(unsaved.id)).toEqual(['new'])
    expect(conversations.saveFailure).toBeNull()
  })

  it('keeps a dismissed alert closed while saves fail, and opens it after one worked', async () => {
    const conversations = await setup()
    const conversation = conversations.active!
    say(conversation, 'hello')
    restoreWrites = failWrites()
    await conversations.save(conversation)
    conversations.dismissSaveFailure()
    await conversations.save(conversation)
    expect(conversations.saveFailureDismissed).toBe(true)

    restoreWrites()
    await conversations.save(conversation)
    restoreWrites = failWrites()
    await conversations.save(conversation)
    expect(conversations.saveFailure).toEqual({ kind: 'quota' })
    expect(conversations.saveFailureDismissed).toBe(false)
  })
})

describe('importing', () => {
  it('imports the same file twice as two conversations and leaves the others as they were', async () => {
    const conversations = await setup()
    const existing = conversations.active!
    say(existing, 'mine')
    await conversations.save(existing)
    const before = await loadConversation(existing.id)

    const first = await conversations.importFile(exportedFile())
    const second = await conversations.importFile(exportedFile())
    expect(first.id).not.toBe(second.id)
    for (const imported of [first, second]) {
      expect(await storedContents(imported.id)).toEqual(['question', 'answer'])
    }
    expect(conversations.metas.map((meta) => meta.id).slice(0, 3)).toEqual([
      second.id,
      first.id,
      existing.id,
    ])
    expect(await loadConversation(existing.id)).toEqual(before)
  })

  it('ignores the id a file carries: the conversation with that id stays as it was', async () => {
    const conversations = await setup()
    const existing = conversations.active!
    say(existing, 'mine')
    await conversations.save(existing)
    const before = await loadConversation(existing.id)
    const messageId = existing.messages[0]!.id

    const imported = await conversations.importFile(
      exportedFile({
        id: existing.id,
        messages: [{ id: messageId, role: 'user', content: 'replaced?' }],
      }),
    )
    expect(imported.id).not.toBe(existing.id)
    expect(await loadConversation(existing.id)).toEqual(before)
    expect((await conversations.getConversation(existing.id))?.messages).toEqual(before?.messages)
  })

  it('takes a fresh id when the id drawn for an import is taken, never replacing', async () => {
    const conversations = await setup()
    const existing = conversations.active!
    say(existing, 'mine')
    await conversations.save(existing)
    const before = await loadConversation(existing.id)

    forcedIds.push(existing.id)
    const imported = await conversations.importFile(exportedFile())
    expect(imported.id).not.toBe(existing.id)
    expect(await storedContents(imported.id)).toEqual(['question', 'answer'])
    expect(await loadConversation(existing.id)).toEqual(before)
  })

  it('fails an import the disk refuses, and keeps nothing half-imported', async () => {
    const conversations = await setup()
    const metasBefore = conversations.metas
    const activeBefore = conversations.activeId
    restoreWrites = failWrites()
    await expect(conversations.importFile(exportedFile())).rejects.toMatchObject({
      name: 'QuotaExceededError',
    })
    expect(conversations.metas).toEqual(metasBefore)
    expect(conversations.activeId).toBe(activeBefore)
  })
})
