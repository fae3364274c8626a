// @vitest-environment jsdom
import { describe, expect, it } from 'vitest'
import { renderMarkdown } from '../markdown'
import { createStreamingRenderer, splitFinishedBlocks } from '../streamingMarkdown'

describe('splitFinishedBlocks', () => {
  it.each([
    ['one growing paragraph', 'Hello wor', [], 'Hello wor'],
    ['a blank line not yet followed by text', 'Para one\n\n', [], 'Para one\n\n'],
    ['paragraphs', 'One\n\nTwo\n\nThr', ['One\n', 'Two\n'], 'Thr'],
    [
      'a blank line inside a code fence',
      '```py\na = 1\n\nb = 2\n```\n\nAfter',
      ['```py\na = 1\n\nb = 2\n```\n'],
      'After',
    ],
    ['an unclosed fence', 'Intro\n\n```js\nx\n\ny', ['Intro\n'], '```js\nx\n\ny'],
    ['tilde fences', '~~~\n```\n\n~~~\n\nEnd', ['~~~\n```\n\n~~~\n'], 'End'],
  ])('%s', (_name, source, finished, tail) => {
    expect(splitFinishedBlocks(source)).toEqual({ finished, tail })
  })
})

describe('createStreamingRenderer', () => {
  it('renders the same HTML as a full render for paragraphs, lists and code', () => {
    const source = 'Intro with **bold**.\n\n- a\n- b\n\n```python\nx = 1\n\ny = 2\n```\n\nThe end'
    const renderer = createStreamingRenderer()
    for (let end = 1; end < source.length; end += 7) renderer.render(source.slice(0, end), 'Copy')
    expect(renderer.render(source, 'Copy')).toBe(renderMarkdown(source, { copyLabel: 'Copy' }))
  })
})
