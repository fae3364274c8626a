import { describe, expect, it } from 'vitest'
import { createThinkSplitter, type ThinkParts } from '../thinkSplitter'

/** The whole reply's parts when it arrives in the given pieces. */
function split(pieces: string[]): ThinkParts {
  const splitter = createThinkSplitter()
  const whole: ThinkParts = { reasoning: '', content: '' }
  for (const parts of [...pieces.map((piece) => splitter.push(piece)), splitter.end()]) {
    whole.reasoning += parts.reasoning
    whole.content += parts.content
  }
  return whole
}

/** Every way of cutting `text` in two, and one delta per character. */
function cuttings(text: string): string[][] {
  const cuts = Array.from({ length: text.length + 1 }, (_, at) => [
    text.slice(0, at),
    text.slice(at),
  ])
  return [...cuts, Array.from(text)]
}

describe('createThinkSplitter', () => {
  it.each([
    ['a think block', '<think>Plan it.</think>Answer.', 'Plan it.', 'Answer.'],
    [
      'whitespace around the tags',
      '\n<think>\n  Plan it.\n</think>\n\nAnswer.',
      'Plan it.',
      'Answer.',
    ],
    ['no think block', 'Answer <think>inside</think>.', '', 'Answer <think>inside</think>.'],
    ['text that starts like a tag', '<thin ice', '', '<thin ice'],
    ['markup that is no tag', '<b>bold</b>', '', '<b>bold</b>'],
    ['a thought cut off (stopped)', '<think>Still planning', 'Still planning', ''],
    ['an empty thought', '<think></think>Answer.', '', 'Answer.'],
    ['a closing tag only in the answer', '<think>a</think>b</think>', 'a', 'b</think>'],
    ['a closing tag split where "<" could start it', '<think>1 < 2</think>ok', '1 < 2', 'ok'],
  ])('splits %s wherever the deltas break', (_name, text, reasoning, content) => {
    for (const pieces of cuttings(text)) {
      expect(split(pieces), JSON.stringify(pieces)).toEqual({ reasoning, content })
    }
  })

  it('gives the thinking out as it streams, holding back only what may be a tag', () => {
    const splitter = createThinkSplitter()
    expect(splitter.push('<thi')).toEqual({ reasoning: '', content: '' })
    expect(splitter.push('nk>Let me see')).toEqual({ reasoning: 'Let me see', content: '' })
    expect(splitter.push(' more </thi')).toEqual({ reasoning: ' more', content: '' })
    expect(splitter.push('nk>\n\nHi')).toEqual({ reasoning: '', content: 'Hi' })
    expect(splitter.push(' there')).toEqual({ reasoning: '', content: ' there' })
  })
})
