import { describe, expect, it } from 'vitest'
import type { ChatMessage } from '../../types/chat'
import { activePath, linkMessages, newestLeaf, pathVersions } from '../messageTree'

const message = (id: string, parentId: string | null, role: ChatMessage['role'] = 'user') => ({
  id,
  parentId,
  role,
  content: id,
  createdAt: 0,
})

// q1 ─ a1            (a1, a2, a3: regenerated replies to q1; q1b: q1 edited)
//    ├ a2 ─ q2 ─ a4
//    └ a3
// q1b ─ a5
const messages: ChatMessage[] = [
  message('q1', null),
  message('a1', 'q1', 'assistant'),
  message('a2', 'q1', 'assistant'),
  message('q2', 'a2'),
  message('a4', 'q2', 'assistant'),
  message('a3', 'q1', 'assistant'),
  message('q1b', null),
  message('a5', 'q1b', 'assistant'),
]
const ids = (path: ChatMessage[]) => path.map((item) => item.id)

describe('activePath', () => {
  it.each([
    ['a4', ['q1', 'a2', 'q2', 'a4']],
    ['a1', ['q1', 'a1']],
    ['a5', ['q1b', 'a5']],
    [null, []],
    ['missing', []],
  ])('runs from the first message to %s', (currentId, expected) => {
    expect(ids(activePath({ messages, currentId }))).toEqual(expected)
  })

  it('stops at a parent loop in bad data instead of hanging', () => {
    const loop = [message('x', 'y'), message('y', 'x')]
    expect(activePath({ messages: loop, currentId: 'x' }).length).toBeLessThanOrEqual(2)
  })
})

describe('pathVersions', () => {
  it('numbers the versions of each message on the path, oldest first', () => {
    expect(Object.fromEntries(pathVersions({ messages, currentId: 'a4' }))).toEqual({
      q1: { index: 0, ids: ['q1', 'q1b'] },
      a2: { index: 1, ids: ['a1', 'a2', 'a3'] },
    })
  })
})

describe('newestLeaf', () => {
  it.each([
    ['a2', 'a4'],
    ['q1', 'a3'],
    ['q1b', 'a5'],
    ['a1', 'a1'],
  ])('shows %s with its newest replies, ending at %s', (shown, leaf) => {
    expect(newestLeaf(messages, shown)).toBe(leaf)
  })
})

describe('linkMessages', () => {
  const legacy = [
    { id: 'm1', role: 'user' as const, content: 'hi', createdAt: 1 },
    { id: 'm2', role: 'assistant' as const, content: 'hello', createdAt: 2 },
    { id: 'm3', role: 'user' as const, content: 'more', createdAt: 3 },
  ]

  it('reads a conversation stored before versions as one line, ending at its last message', () => {
    const linked = linkMessages(legacy, undefined)
    expect(linked.messages.map((item) => item.parentId)).toEqual([null, 'm1', 'm2'])
    expect(ids(activePath(linked))).toEqual(['m1', 'm2', 'm3'])
  })

  it('keeps a valid tree as it is', () => {
    expect(linkMessages(messages, 'a1')).toEqual({ messages, currentId: 'a1' })
  })

  it.each([
    [
      'a parent that does not exist',
      [
        { ...legacy[0]!, parentId: null },
        { ...legacy[1]!, parentId: 'gone' },
      ],
    ],
    [
      'a parent that comes later',
      [
        { ...legacy[0]!, parentId: 'm2' },
        { ...legacy[1]!, parentId: 'm1' },
      ],
    ],
    [
      'a parent of the wrong type',
      [
        { ...legacy[0]!, parentId: 7 },
        { ...legacy[1]!, parentId: {} },
      ],
    ],
  ])('repairs %s so that no message is lost from view', (_name, stored) => {
    const linked = linkMessages(stored, 'nonsense')
    expect(ids(activePath(linked))).toEqual(['m1', 'm2'])
  })

  it('gives a repeated id a new one', () => {
    const linked = linkMessages([legacy[0]!, legacy[0]!], undefined)
    expect(new Set(ids(linked.messages)).size).toBe(2)
    expect(activePath(linked)).toHaveLength(2)
  })
})
