// @vitest-environment jsdom
import { describe, expect, it } from 'vitest'
import { splitCitations } from '../citations'
import { renderMarkdown } from '../markdown'

const render = (source: string, citations: number) =>
  renderMarkdown(source, { copyLabel: 'Copy', citations })

describe('splitCitations', () => {
  it('cuts out the markers that name a source and leaves the rest as text', () => {
    expect(splitCitations('Six hundred [1], see also [2][3] and [9].', 3)).toEqual([
      'Six hundred ',
      1,
      ', see also ',
      2,
      3,
      ' and [9].',
    ])
    expect(splitCitations('[0] and [12]', 3)).toEqual(['[0] and [12]'])
  })
})

describe('citation links in rendered Markdown', () => {
  it('turns [n] into a button for each source the reply has', () => {
    const html = render('Hotels cost at most 600 yuan [1], flights are economy [2].', 2)
    const page = new DOMParser().parseFromString(html, 'text/html')
    const buttons = [...page.querySelectorAll('button.cite')]
    expect(buttons.map((button) => button.textContent)).toEqual(['[1]', '[2]'])
    expect(buttons.every((button) => button.getAttribute('type') === 'button')).toBe(true)
  })

  it('leaves markers alone without sources, beyond them, and in code', () => {
    expect(render('A list item [1]', 0)).not.toContain('cite')
    expect(render('Only one source [2]', 1)).not.toContain('cite')
    const html = render('Call `items[1]` here:\n\n```js\nconst x = a[1]\n```', 3)
    expect(html).not.toContain('class="cite"')
  })

  it('keeps text around a marker escaped and sanitized', () => {
    const html = render('<img src=x onerror=alert(1)> [1] **bold**', 1)
    const page = new DOMParser().parseFromString(html, 'text/html')
    expect(page.querySelector('img')).toBeNull()
    expect(page.body.textContent).toContain('<img src=x onerror=alert(1)>')
    expect(page.querySelector('button.cite')?.textContent).toBe('[1]')
    expect(page.querySelector('strong')?.textContent).toBe('bold')
  })

  it('renders the same text differently with and without sources (no stale cache)', () => {
    expect(render('Cached [1]', 0)).not.toContain('cite')
    expect(render('Cached [1]', 1)).toContain('class="cite"')
  })
})
