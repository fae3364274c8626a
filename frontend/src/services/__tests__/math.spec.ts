// @vitest-environment jsdom
import { describe, expect, it } from 'vitest'
import { renderMarkdown } from '../markdown'
import { loadMath, mathLoading, mathReady } from '../mathRenderer'
import { createStreamingRenderer } from '../streamingMarkdown'

const options = { copyLabel: 'Copy' }
const render = (source: string) => renderMarkdown(source, options)
const formulas = (html: string) => html.match(/class="katex"/g)?.length ?? 0
const displayed = (html: string) => html.match(/class="katex-display"/g)?.length ?? 0

describe('before KaTeX has loaded', () => {
  // First in this file: nothing has loaded KaTeX in this module graph yet.
  it('shows the TeX as written, starts loading, and renders the formula once loaded', async () => {
    expect(mathReady()).toBe(false)
    const html = render('Area: $\\pi r^2$.')
    expect(html).toContain('<span class="math-source">$\\pi r^2$</span>')
    expect(mathLoading()).not.toBeNull()
    await loadMath()
    expect(mathLoading()).toBeNull()
    expect(formulas(render('Area: $\\pi r^2$.'))).toBe(1)
  })
})

describe('formulas', () => {
  it.each([
    ['$x^2$', 1, 0],
    ['inline \\(a+b\\) in a sentence', 1, 0],
    ['$$\\sum_{i=1}^n i$$', 1, 1],
    ['\\[E = mc^2\\]', 1, 1],
    ['Given:\n$$\n\\frac{a}{b}\n= c\n$$\nso on.', 1, 1],
    ['\\[\n\\int_0^1 x\\,dx\n\\]', 1, 1],
    ['then $$x = 1$$ inline', 1, 1],
    ['- item with $\\alpha$\n- and $\\beta$', 2, 0],
    ['> quoted $$y$$', 1, 1],
    ['| a | b |\n|---|---|\n| $x_1$ | $x_2$ |', 2, 0],
  ])('renders %j', async (source, count, display) => {
    await loadMath()
    const html = render(source)
    expect([formulas(html), displayed(html)]).toEqual([count, display])
  })

  it.each([
    ['money', 'It costs $5 and $6 in total.'],
    ['money with a range', 'Between $5-$10, or $20.'],
    ['a dollar and a space', 'a $ b $ c'],
    ['an escaped dollar', 'costs \\$5 and \\$6'],
    ['inline code', 'write `$x^2$` for a square'],
    ['a code block', '```tex\n$x^2$ and \\(y\\)\n$$z$$\n```'],
    ['an indented code block', '    $$x$$'],
    ['an unclosed formula (still streaming)', 'so $$\n\\frac{a}{b'],
    ['a display formula with a blank line', '$$\na\n\nb\n$$'],
  ])('leaves %s alone', async (_name, source) => {
    await loadMath()
    expect(formulas(render(source))).toBe(0)
  })

  it('keeps the dollars of money as text', async () => {
    await loadMath()
    expect(render('It costs $5 and $6 in total.')).toContain('It costs $5 and $6 in total.')
  })

  it('renders a formula while the reply still streams, once it is closed', async () => {
    await loadMath()
    const renderer = createStreamingRenderer()
    expect(formulas(renderer.render('The area is $\\pi r', 'Copy'))).toBe(0)
    expect(formulas(renderer.render('The area is $\\pi r^2$ and', 'Copy'))).toBe(1)
  })
})

describe('untrusted TeX', () => {
  it.each([
    '$\\href{javascript:window.pwned=1}{click}$',
    '$\\url{javascript:window.pwned=1}$',
    '$\\includegraphics{https://tracker.example/x.png}$',
    '$\\htmlStyle{position:fixed;inset:0}{x}$',
    '$\\htmlClass{code-copy}{x}$',
    '$\\htmlData{x=1}{x}$',
    '$\\text{<img src=x onerror=window.pwned=1>}$',
    '$$</span><script>window.pwned=1</script>$$',
  ])('makes %s inert', async (source) => {
    await loadMath()
    const container = document.createElement('div')
    container.innerHTML = render(source)
    expect(container.querySelector('a, img, script, iframe, [href], [src]')).toBeNull()
    for (const element of container.querySelectorAll('*')) {
      for (const attribute of element.attributes) expect(attribute.name).not.toMatch(/^on/i)
      expect(element.getAttribute('style') ?? '').not.toMatch(/fixed|url\(/i)
    }
    expect(container.querySelector('.code-copy')).toBeNull()
  })

  it('stops a macro that expands forever, quickly, with an error shown as text', async () => {
    await loadMath()
    const started = performance.now()
    const html = render('$\\def\\a{\\a\\a}\\a$')
    expect(performance.now() - started).toBeLessThan(5000)
    expect(html).toContain('katex-error')
  })

  it('bounds the size a formula asks for', async () => {
    await loadMath()
    const container = document.createElement('div')
    container.innerHTML = render('$\\rule{10000em}{10000em}$')
    const sizes = Array.from(container.querySelectorAll<HTMLElement>('[style]'), (element) =>
      [...element.style.cssText.matchAll(/(-?[\d.]+)em/g)].map((match) => Number(match[1])),
    ).flat()
    expect(Math.max(...sizes.map(Math.abs))).toBeLessThanOrEqual(20)
  })

  it('puts a formula only where the renderer made its slot, never where the text says one', async () => {
    await loadMath()
    const html = render('$x$ and <span class="math-slot-0"></span> and math-slot-0')
    expect(formulas(html)).toBe(1)
    expect(html).toContain('&lt;span class="math-slot-0"&gt;&lt;/span&gt;')
  })

  it('keeps styles out of everything but formulas', async () => {
    await loadMath()
    const container = document.createElement('div')
    container.innerHTML = render('**bold** $x^2$ `code`')
    for (const element of container.querySelectorAll('[style]')) {
      expect(element.closest('.katex')).not.toBeNull()
    }
  })
})
