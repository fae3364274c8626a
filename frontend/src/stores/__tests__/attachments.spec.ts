// @vitest-environment jsdom
import 'fake-indexeddb/auto'
import { createPinia, setActivePinia } from 'pinia'
import { afterEach, describe, expect, it, vi } from 'vitest'
import * as knowledge from '../../services/knowledge'
import type { IndexingState } from '../../services/knowledge'
import { loadConversation } from '../../services/conversationDb'
import type { VectorStore } from '../../types/api'
import { useAttachmentsStore } from '../attachments'
import { useConversationsStore } from '../conversations'

vi.mock('../../services/knowledge', async (importOriginal) => ({
  ...(await importOriginal<typeof knowledge>()),
  createStore: vi.fn(),
  uploadAndIndex: vi.fn(),
  deleteFile: vi.fn(),
}))

async function setup() {
  setActivePinia(createPinia())
  const conversations = useConversationsStore()
  await conversations.init()
  conversations.newChat()
  return { attachments: useAttachmentsStore(), conversation: conversations.active! }
}

afterEach(() => vi.clearAllMocks())

describe('attachments store', () => {
  it('creates the chat’s collection once, follows each file, and stores the collection id', async () => {
    vi.mocked(knowledge.createStore).mockResolvedValue({ id: 'vs-chat' } as VectorStore)
    const finish: ((state: IndexingState) => void)[] = []
    vi.mocked(knowledge.uploadAndIndex).mockImplementation(
      (_storeId, _file, options) =>
        new Promise((resolve) => {
          options.onUpdate({ phase: 'indexing', uploaded: 1, chunksDone: 1, chunksTotal: 4 })
          finish.push(resolve)
        }),
    )
    const { attachments, conversation } = await setup()
    attachments.attach(conversation, [new File(['a'], 'a.pdf'), new File(['b'], 'b.docx')])
    expect(attachments.list(conversation.id).map((a) => a.name)).toEqual(['a.pdf', 'b.docx'])
    await vi.waitFor(() => expect(finish).toHaveLength(2))
    expect(knowledge.createStore).toHaveBeenCalledTimes(1)
    expect(attachments.pending(conversation.id)).toHaveLength(2)
    expect(attachments.list(conversation.id)[0]?.state).toMatchObject({ chunksDone: 1 })
    const indexed = attachments.waitUntilIndexed(conversation.id)
    const ready = { phase: 'ready', uploaded: 1, chunksDone: 4, chunksTotal: 4, fileId: 'f' }
    finish[0]?.({ ...ready } as IndexingState)
    finish[1]?.({ phase: 'failed', uploaded: 1, chunksDone: 0, chunksTotal: 0, error: 'no text' })
    await indexed
    expect(attachments.list(conversation.id).map((a) => a.state.phase)).toEqual(['ready', 'failed'])
    expect(conversation.attachmentStoreId).toBe('vs-chat')
    expect((await loadConversation(conversation.id))?.attachmentStoreId).toBe('vs-chat')
  })

  it('a refused upload keeps its chip with the reason; removing a chip deletes its file', async () => {
    vi.mocked(knowledge.createStore).mockResolvedValue({ id: 'vs-chat' } as VectorStore)
    vi.mocked(knowledge.uploadAndIndex).mockImplementation(async (_storeId, file, options) => {
      const state: IndexingState =
        file.name === 'a.exe'
          ? { phase: 'failed', uploaded: 0, chunksDone: 0, chunksTotal: 0, error: 'unsupported' }
          : { phase: 'ready', uploaded: 1, chunksDone: 2, chunksTotal: 2, fileId: 'file-9' }
      options.onUpdate(state)
      return state
    })
    vi.mocked(knowledge.deleteFile).mockResolvedValue()
    const { attachments, conversation } = await setup()
    attachments.attach(conversation, [new File(['MZ'], 'a.exe'), new File(['x'], 'notes.md')])
    await attachments.waitUntilIndexed(conversation.id)
    const [refused, ready] = attachments.list(conversation.id)
    expect(refused?.state).toMatchObject({ phase: 'failed', error: 'unsupported' })
    expect(attachments.ready(conversation.id)).toHaveLength(1)
    await attachments.remove(conversation, ready!.key)
    expect(knowledge.deleteFile).toHaveBeenCalledWith('file-9', { apiKey: null })
    expect(attachments.list(conversation.id).map((a) => a.name)).toEqual(['a.exe'])
  })
})
