import { describe, expect, it } from 'vitest'
import type { ChatMessage, Conversation } from '../../types/chat'
import { fold, searchConversations, searchEntry } from '../conversationSearch'

function conversation(id: string, title: string, contents: string[]): Conversation {
  const messages: ChatMessage[] = contents.map((content, index) => ({
    id: `${id}-${index}`,
    parentId: index === 0 ? null : `${id}-${index - 1}`,
    role: index % 2 === 0 ? 'user' : 'assistant',
    content,
    createdAt: index,
  }))
  return {
    id,
    title,
    titleEdited: false,
    createdAt: 0,
    updatedAt: 0,
    messages,
    currentId: messages.at(-1)?.id ?? null,
    contextSummary: null,
  }
}

const entries = [
  conversation('llamas', 'Llamas', [
    'Tell me about llamas',
    'Llamas live in the Andes. They are related to the Alpaca and carry loads over passes.',
    'And alpacas?',
  ]),
  conversation('trip', 'Trip to 北京', ['去北京玩三天', '第一天去故宫，第二天去长城。']),
  conversation('alpaca', 'Alpaca wool', ['Is it warm?', 'Yes.']),
].map(searchEntry)

const search = (query: string) => searchConversations(entries, query)

describe('searchConversations', () => {
  it('finds a conversation by a word from the middle of a message, ignoring case', () => {
    const [match, ...others] = search('ANDES')
    expect(others).toEqual([])
    expect(match).toMatchObject({
      conversationId: 'llamas',
      titleParts: null,
      messageId: 'llamas-1',
      snippet: { before: 'Llamas live in the ', match: 'Andes', after: expect.any(String) },
    })
    expect(match?.snippet?.after.startsWith('. They are related')).toBe(true)
  })

  it('lists title matches first, and opens each at the first message that matches', () => {
    expect(search('alpaca').map((match) => [match.conversationId, match.messageId])).toEqual([
      ['alpaca', null],
      ['llamas', 'llamas-1'],
    ])
    expect(search('alpaca')[0]?.titleParts).toEqual({ before: '', match: 'Alpaca', after: ' wool' })
  })

  it('finds Chinese text, where no spaces separate the words', () => {
    expect(search('长城')).toMatchObject([
      { conversationId: 'trip', messageId: 'trip-1', snippet: { match: '长城' } },
    ])
  })

  it('shortens a long message around the match, on one line', () => {
    const long = searchEntry(
      conversation('long', 'Long', [
        `${'word '.repeat(40)}needle\n\nin the\nhaystack ${'x'.repeat(200)}`,
      ]),
    )
    const [match] = searchConversations([long], 'needle')
    expect(match?.snippet?.before).toMatch(/^…\S/)
    expect(match?.snippet?.after).toMatch(/^ in the haystack x+…$/)
  })

  it('matches within one text only, never across two messages', () => {
    expect(search('andes alpaca')).toEqual([])
    expect(search('passes. and')).toEqual([])
    expect(search('\u0000')).toEqual([])
  })

  it('finds nothing for an empty query', () => {
    expect(search('   ')).toEqual([])
  })

  it('searches every version of a message, not only the one shown', () => {
    const branched = conversation('branched', 'Branched', ['question', 'first answer'])
    branched.messages.push({
      id: 'regenerated',
      parentId: 'branched-0',
      role: 'assistant',
      content: 'second answer',
      createdAt: 3,
    })
    branched.currentId = 'regenerated'
    expect(
      searchConversations([searchEntry(branched)], 'first').map((match) => match.messageId),
    ).toEqual(['branched-1'])
  })
})

describe('fold', () => {
  it('keeps every position, even where the lower case is longer', () => {
    const text = 'İstanbul Straße ÅSA'
    expect(fold(text)).toHaveLength(text.length)
    expect(fold(text).indexOf('straße')).toBe(text.indexOf('Straße'))
    expect(fold(text)).toContain('åsa')
  })
})
