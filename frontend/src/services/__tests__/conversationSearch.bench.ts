// Search over 1,000 conversations of 50 messages each (about 20 MB of text, about 400 characters
// a message), as a long-time user's browser holds them. `npm run bench`; the figures are in
// docs/frontend.md.
import { bench, describe } from 'vitest'
import type { ChatMessage, Conversation } from '../../types/chat'
import { searchConversations, searchEntry } from '../conversationSearch'

const CONVERSATIONS = 1000
const MESSAGES = 50
const WORDS = (
  'the a of to and in is that for it with as on be this are by or from at an which can ' +
  'model server token reply python file data memory context question answer example value ' +
  'function result system number string request list time first second error 北京 长城 数据 模型'
).split(' ')

// A fixed seed: every run searches the same text.
let seed = 42
function random(): number {
  seed = (seed * 1103515245 + 12345) % 2 ** 31
  return seed / 2 ** 31
}

function text(words: number): string {
  return Array.from({ length: words }, () => WORDS[Math.floor(random() * WORDS.length)]).join(' ')
}

function conversation(index: number): Conversation {
  const messages: ChatMessage[] = Array.from({ length: MESSAGES }, (_, position) => ({
    id: `${index}-${position}`,
    parentId: position === 0 ? null : `${index}-${position - 1}`,
    role: position % 2 === 0 ? 'user' : 'assistant',
    // Short questions, longer answers: 400 characters a message on average.
    content: text(position % 2 === 0 ? 15 : 115),
    createdAt: position,
  }))
  return {
    id: String(index),
    title: text(5),
    titleEdited: false,
    createdAt: 0,
    updatedAt: index,
    messages,
    currentId: messages.at(-1)!.id,
    contextSummary: null,
  }
}

const conversations = Array.from({ length: CONVERSATIONS }, (_, index) => conversation(index))
// One rare word in the middle of one conversation, as the e2e test looks for.
conversations[500]!.messages[25]!.content += ' marmalade'
const entries = conversations.map(searchEntry)

describe(`${CONVERSATIONS} conversations x ${MESSAGES} messages`, () => {
  bench('build the index', () => {
    conversations.map(searchEntry)
  })
  bench('a rare word (one match: every text is read)', () => {
    searchConversations(entries, 'marmalade')
  })
  bench('no match at all', () => {
    searchConversations(entries, 'zebra')
  })
  bench('a common word (a match in every conversation)', () => {
    searchConversations(entries, 'python')
  })
  bench('a phrase of two common words (in about half of them)', () => {
    searchConversations(entries, 'python file')
  })
  bench('one letter, as typing starts', () => {
    searchConversations(entries, 'm')
  })
})
