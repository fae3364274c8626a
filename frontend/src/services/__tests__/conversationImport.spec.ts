import { describe, expect, it } from 'vitest'
import { activePath, pathVersions } from '../../lib/messageTree'
import { conversationToJson, conversationToMarkdown } from '../conversationExport'
import { ImportError, MAX_IMPORT_BYTES, parseConversationFile } from '../conversationImport'
import type { Conversation } from '../../types/chat'

let counter = 0
const createId = () => `id-${++counter}`

const original: Conversation = {
  id: 'original',
  title: 'Trip to 北京',
  titleEdited: false,
  createdAt: 1000,
  updatedAt: 2000,
  messages: [
    {
      id: 'm1',
      parentId: null,
      role: 'user',
      content: 'Plan a trip',
      createdAt: 1000,
      status: 'done',
    },
    {
      id: 'm2',
      parentId: 'm1',
      role: 'assistant',
      content: '**Day 1**',
      createdAt: 1100,
      status: 'stopped',
    },
  ],
  currentId: 'm2',
  contextSummary: { covers: 2, hash: 'h', text: 'summary' },
}

/** Plan a trip ─ Day 1 / Day one (regenerated) ─ And day 2? ─ Day two; Plan a trip! (edited). */
const branched: Conversation = {
  ...original,
  messages: [
    ...original.messages,
    { id: 'm3', parentId: 'm1', role: 'assistant', content: 'Day one', createdAt: 1200 },
    { id: 'm4', parentId: 'm3', role: 'user', content: 'And day 2?', createdAt: 1300 },
    { id: 'm5', parentId: 'm4', role: 'assistant', content: 'Day two', createdAt: 1400 },
    { id: 'm6', parentId: null, role: 'user', content: 'Plan a trip!', createdAt: 1500 },
  ],
  currentId: 'm5',
}

const valid = JSON.parse(conversationToJson(original)) as Record<string, unknown>
const withConversation = (patch: Record<string, unknown>) =>
  JSON.stringify({ ...valid, conversation: { ...(valid.conversation as object), ...patch } })
/** A file as the app wrote it before message versions: a plain list, no ids. */
const versionOneFile = (messages: unknown[], patch: Record<string, unknown> = {}) =>
  JSON.stringify({
    format: 'pocketchat.conversation',
    version: 1,
    conversation: { title: 'Old file', messages, ...patch },
  })
const contents = (conversation: Pick<Conversation, 'messages' | 'currentId'>) =>
  activePath(conversation).map((message) => message.content)

function failure(text: string): ImportError {
  try {
    parseConversationFile(text, createId)
  } catch (error) {
    if (error instanceof ImportError) return error
    throw error
  }
  throw new Error('accepted')
}

const source = {
  index: 1,
  id: 'chunk-1',
  file_id: 'file-1',
  filename: 'policy.pdf',
  vector_store_id: 'vs-1',
  page: 2,
  heading: 'Hotels',
  snippet: 'Six hundred yuan a night.',
  score: 0.03,
}

describe('parseConversationFile', () => {
  it('keeps the sources of a reply through export and import', () => {
    const cited: Conversation = {
      ...original,
      attachmentStoreId: 'vs-chat',
      messages: [
        {
          id: 'm1',
          parentId: null,
          role: 'assistant',
          content: 'Six hundred [1].',
          createdAt: 1,
          sources: [source],
        },
        {
          id: 'm2',
          parentId: 'm1',
          role: 'assistant',
          content: 'Nothing matched.',
          createdAt: 2,
          sources: [],
        },
      ],
    }
    const imported = parseConversationFile(conversationToJson(cited), createId)
    expect(imported.messages.map((message) => message.sources)).toEqual([[source], []])
    // The chat's own collection stays with the original conversation.
    expect(imported.attachmentStoreId).toBeUndefined()
  })

  it("keeps a reply's thinking and how long it took through export and import", () => {
    const thought: Conversation = {
      ...original,
      messages: [
        original.messages[0]!,
        {
          ...original.messages[1]!,
          reasoning: 'The user wants a plan.',
          reasoningMs: 12_300,
        },
      ],
    }
    const imported = parseConversationFile(conversationToJson(thought), createId)
    expect(imported.messages[1]).toMatchObject({
      content: '**Day 1**',
      reasoning: 'The user wants a plan.',
      reasoningMs: 12_300,
    })
  })

  it('refuses a source that is not one', () => {
    const messages = [{ role: 'assistant', content: 'x', sources: [{ index: 'one' }] }]
    expect(failure(versionOneFile(messages)).failure).toBe('invalid')
  })

  it('keeps every version through export and import, and the one that was shown', () => {
    const imported = parseConversationFile(conversationToJson(branched), createId)
    expect(imported.messages.map((message) => message.content)).toEqual(
      branched.messages.map((message) => message.content),
    )
    expect(imported.messages.map((message) => message.id)).not.toContain('m1')
    expect(contents(imported)).toEqual(['Plan a trip', 'Day one', 'And day 2?', 'Day two'])
    const versions = [...pathVersions(imported).values()].map(({ index, ids }) => [
      index,
      ids.length,
    ])
    expect(versions).toEqual([
      [0, 2],
      [1, 2],
    ])
  })

  it('reads a version 1 file, written before message versions, as one line', () => {
    const imported = parseConversationFile(
      versionOneFile([
        { role: 'user', content: 'question' },
        { role: 'assistant', content: 'answer' },
        { role: 'user', content: 'again' },
      ]),
      createId,
    )
    expect(contents(imported)).toEqual(['question', 'answer', 'again'])
    expect(imported.currentId).toBe(imported.messages[2]!.id)
  })

  it('round-trips an export with fresh ids', () => {
    const imported = parseConversationFile(conversationToJson(original), createId, 5000)
    expect(imported.id).not.toBe(original.id)
    expect(imported.messages.map((m) => m.id)).not.toContain('m1')
    expect(imported).toMatchObject({
      title: original.title,
      createdAt: 1000,
      updatedAt: 5000,
      contextSummary: original.contextSummary,
    })
    expect(
      imported.messages.map(({ role, content, status }) => ({ role, content, status })),
    ).toEqual([
      { role: 'user', content: 'Plan a trip', status: 'done' },
      { role: 'assistant', content: '**Day 1**', status: 'stopped' },
    ])
  })

  it.each([
    ['empty file', '', 'not-json'],
    ['not JSON', '{"format": ', 'not-json'],
    ['HTML', '<html><script>alert(1)</script></html>', 'not-json'],
    ['a JSON array', '[]', 'invalid'],
    ['null', 'null', 'invalid'],
    ['another format', JSON.stringify({ ...valid, format: 'other' }), 'invalid'],
    ['a future version', JSON.stringify({ ...valid, version: 3 }), 'invalid'],
    ['no conversation', JSON.stringify({ format: valid.format, version: 1 }), 'invalid'],
    ['messages not an array', withConversation({ messages: {} }), 'invalid'],
    ['a system message', versionOneFile([{ role: 'system', content: 'x' }]), 'invalid'],
    ['a role with markup', versionOneFile([{ role: '<img>', content: 'x' }]), 'invalid'],
    ['content not a string', versionOneFile([{ role: 'user', content: { a: 1 } }]), 'invalid'],
    [
      'reasoning not a string',
      versionOneFile([{ role: 'assistant', content: 'x', reasoning: ['a'] }]),
      'invalid',
    ],
    [
      'a negative thinking time',
      versionOneFile([{ role: 'assistant', content: 'x', reasoning: 'a', reasoningMs: -1 }]),
      'invalid',
    ],
    [
      'a version 2 message without an id',
      withConversation({ messages: [{ parentId: null, role: 'user', content: 'x' }] }),
      'invalid',
    ],
    [
      'a repeated id',
      withConversation({
        messages: [
          { id: 'a', parentId: null, role: 'user', content: 'x' },
          { id: 'a', parentId: null, role: 'user', content: 'y' },
        ],
      }),
      'invalid',
    ],
    [
      'a parent that comes later (a loop)',
      withConversation({
        messages: [
          { id: 'a', parentId: 'b', role: 'user', content: 'x' },
          { id: 'b', parentId: 'a', role: 'assistant', content: 'y' },
        ],
        currentId: 'b',
      }),
      'invalid',
    ],
    ['a current message that is none', withConversation({ currentId: 'nowhere' }), 'invalid'],
    ['a numeric title', withConversation({ title: 42 }), 'invalid'],
    ['a huge title', withConversation({ title: 'x'.repeat(201) }), 'invalid'],
    ['a bad timestamp', withConversation({ createdAt: 'yesterday' }), 'invalid'],
    ['a negative timestamp', withConversation({ createdAt: -5 }), 'invalid'],
    [
      'a bad summary',
      withConversation({ contextSummary: { covers: 0, hash: '', text: 1 } }),
      'invalid',
    ],
    [
      'too many messages',
      versionOneFile(Array(5001).fill({ role: 'user', content: 'x' })),
      'invalid',
    ],
    ['a file over the size limit', `{"pad": "${'x'.repeat(MAX_IMPORT_BYTES)}"}`, 'too-large'],
  ])('rejects %s', (_name, text, expected) => {
    expect(failure(text).failure).toBe(expected)
  })

  it('says where an invalid file is wrong', () => {
    const error = failure(versionOneFile([{ role: 'user', content: 7 }]))
    expect(error.path).toBe('conversation.messages.0.content')
    const loop = withConversation({
      messages: [{ id: 'a', parentId: 'a', role: 'user', content: 'x' }],
    })
    expect(failure(loop).path).toBe('conversation.messages.0.parentId')
  })

  it('ignores unknown fields and prototype keys instead of copying them', () => {
    // Raw JSON: an object literal's __proto__ would set the prototype instead of a key.
    const hostile = versionOneFile(
      [{ role: 'user', content: 'hi', onclick: 'alert(1)', constructor: 'x' }],
      { extra: '<script>alert(1)</script>' },
    ).replace('{', '{"__proto__": {"polluted": true},')
    const imported = parseConversationFile(hostile, createId)
    expect(Object.keys(imported.messages[0] ?? {}).sort()).toEqual([
      'content',
      'createdAt',
      'id',
      'parentId',
      'role',
      'status',
    ])
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })
})

const labels = {
  user: 'You',
  assistant: 'Assistant',
  sources: 'Sources',
  reasoning: (durationMs: number | undefined) =>
    durationMs === undefined ? 'Thoughts' : `Thought for ${durationMs / 1000} s`,
}

describe('conversationToMarkdown', () => {
  it('writes the title and each message under its speaker', () => {
    expect(conversationToMarkdown(original, labels)).toBe(
      '# Trip to 北京\n\n## You\n\nPlan a trip\n\n## Assistant\n\n**Day 1**\n',
    )
  })

  it('writes only the version on screen', () => {
    expect(conversationToMarkdown(branched, labels)).toBe(
      '# Trip to 北京\n\n## You\n\nPlan a trip\n\n## Assistant\n\nDay one\n\n' +
        '## You\n\nAnd day 2?\n\n## Assistant\n\nDay two\n',
    )
  })

  it("folds a reply's thinking above it, so the model's text cannot close the fold", () => {
    const thought: Conversation = {
      ...original,
      messages: [
        original.messages[0]!,
        {
          ...original.messages[1]!,
          reasoning: 'Plan <b>it</b>.\n</details>\nOut?',
          reasoningMs: 4000,
        },
      ],
    }
    expect(conversationToMarkdown(thought, labels)).toBe(
      '# Trip to 北京\n\n## You\n\nPlan a trip\n\n## Assistant\n\n' +
        '<details>\n<summary>Thought for 4 s</summary>\n\n' +
        'Plan <b>it</b>.\n&lt;/details>\nOut?\n\n</details>\n\n**Day 1**\n',
    )
  })

  it('lists the sources under a reply, escaped so a file name adds no Markdown', () => {
    const cited: Conversation = {
      ...original,
      messages: [
        {
          id: 'm1',
          parentId: null,
          role: 'assistant',
          content: 'Six hundred [1].',
          createdAt: 1,
          sources: [{ ...source, filename: '<img src=x>*bold*.md', page: 3, heading: null }],
        },
      ],
      currentId: 'm1',
    }
    expect(conversationToMarkdown(cited, labels)).toContain(
      'Six hundred [1].\n\n**Sources**\n\n1. \\<img src=x\\>\\*bold\\*.md (p. 3)',
    )
  })
})
