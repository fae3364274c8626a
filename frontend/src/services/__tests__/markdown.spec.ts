// @vitest-environment jsdom
import { describe, expect, it } from 'vitest'
import { renderMarkdown } from '../markdown'
import { sanitizeHtml } from '../sanitize'

const XSS_PAYLOADS = [
  '<script>window.pwned = 1</script>',
  '<img src=x onerror="window.pwned = 1">',
  '<svg onload="window.pwned = 1"><circle r="1"/></svg>',
  '<svg><script>window.pwned = 1</script></svg>',
  '<iframe src="javascript:window.pwned = 1"></iframe>',
  '<iframe srcdoc="<script>parent.pwned = 1</script>"></iframe>',
  '<object data="javascript:window.pwned = 1"></object>',
  '<embed src="javascript:window.pwned = 1">',
  '<a href="javascript:window.pwned = 1">click</a>',
  '<a href="JaVaScRiPt:window.pwned = 1">click</a>',
  '<a href="  javascript:window.pwned = 1">click</a>',
  '<a href="java&#x09;script:window.pwned = 1">click</a>',
  '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">click</a>',
  '<a href="vbscript:msgbox(1)">click</a>',
  '<div style="background:url(javascript:window.pwned = 1)">x</div>',
  '<div style="width: expression(window.pwned = 1)">x</div>',
  '<style>body { background: url("javascript:window.pwned = 1") }</style>',
  '<link rel="stylesheet" href="javascript:window.pwned = 1">',
  '<meta http-equiv="refresh" content="0;url=javascript:window.pwned = 1">',
  '<base href="javascript:/">',
  '<form action="javascript:window.pwned = 1"><button>go</button></form>',
  '<button formaction="javascript:window.pwned = 1">go</button>',
  '<input autofocus onfocus="window.pwned = 1">',
  '<details open ontoggle="window.pwned = 1">x</details>',
  '<body onload="window.pwned = 1">',
  '<math><mtext><table><mglyph><style><img src=x onerror="window.pwned = 1">',
  '<noscript><p title="</noscript><img src=x onerror=window.pwned=1>">',
  '<a href="https://example.com" target="_self" rel="opener">ok</a>',
  '<p onclick="window.pwned = 1" onmouseover="window.pwned = 1">hover</p>',
  '<video><source onerror="window.pwned = 1"></video>',
  '<audio src=x onerror="window.pwned = 1">',
  '<template><img src=x onerror="window.pwned = 1"></template>',
]

const MARKDOWN_PAYLOADS = [
  '[click](javascript:window.pwned=1)',
  '[click](JAVASCRIPT:window.pwned=1)',
  '[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
  '[click](vbscript:msgbox(1))',
  '![x](javascript:window.pwned=1)',
  '![x](https://tracker.example/pixel.png)',
  '<https://example.com/"onmouseover="window.pwned=1>',
  '```"><img src=x onerror=window.pwned=1>\ncode\n```',
  '```js\n</code></pre><script>window.pwned = 1</script>\n```',
  '[a](https://example.com "title\\" onmouseover=\\"window.pwned=1")',
  ...XSS_PAYLOADS,
]

const DANGEROUS_ELEMENTS =
  'script, iframe, object, embed, svg, math, style, link, meta, base, form, input, img, video, audio, source, template, noscript, body'
const SAFE_URL = /^(https?:|mailto:)/i

function assertInert(html: string): void {
  const container = document.createElement('div')
  container.innerHTML = html
  expect(container.querySelector(DANGEROUS_ELEMENTS)).toBeNull()
  for (const element of container.querySelectorAll('*')) {
    for (const attribute of element.attributes) {
      expect(attribute.name).not.toMatch(/^on/i)
      expect(['style', 'srcdoc', 'formaction', 'action', 'src']).not.toContain(attribute.name)
    }
    const href = element.getAttribute('href')
    if (href !== null) expect(href.trim()).toMatch(SAFE_URL)
  }
  for (const link of container.querySelectorAll('a[href]')) {
    expect(link.getAttribute('target')).toBe('_blank')
    expect(link.getAttribute('rel')).toBe('noopener noreferrer')
  }
}

describe('sanitizeHtml', () => {
  it('is checked by an assertion that does catch raw payloads', () => {
    expect(() => assertInert('<img src=x onerror="window.pwned = 1">')).toThrow()
    expect(() => assertInert('<a href="javascript:void 0">x</a>')).toThrow()
  })

  it.each(XSS_PAYLOADS)('makes %s inert', (payload) => {
    assertInert(sanitizeHtml(payload))
  })

  it('keeps safe links and forces a new tab without opener', () => {
    const html = sanitizeHtml('<a href="https://example.com" target="_self" rel="opener">ok</a>')
    expect(html).toContain('href="https://example.com"')
    expect(html).toContain('target="_blank"')
    expect(html).toContain('rel="noopener noreferrer"')
  })
})

describe('renderMarkdown', () => {
  const options = { copyLabel: 'Copy' }

  it.each(MARKDOWN_PAYLOADS)('makes %s inert', (payload) => {
    assertInert(renderMarkdown(payload, options))
  })

  it('shows raw HTML as text, not markup', () => {
    const html = renderMarkdown('<b>bold</b>', options)
    expect(html).toContain('&lt;b&gt;bold&lt;/b&gt;')
  })

  it('turns bare URLs into safe links', () => {
    const html = renderMarkdown('see https://example.com/page', options)
    expect(html).toContain(
      '<a href="https://example.com/page" target="_blank" rel="noopener noreferrer">',
    )
  })

  it('highlights known languages with a label and a copy button', () => {
    const html = renderMarkdown('```python\ndef f():\n    return 1\n```', { copyLabel: '复制' })
    expect(html).toContain('<span class="code-lang">python</span>')
    expect(html).toContain('<button type="button" class="code-copy">复制</button>')
    expect(html).toContain('hljs-keyword')
  })

  it('escapes code in unknown languages', () => {
    const html = renderMarkdown('```nosuchlang\n<script>x</script>\n```', options)
    expect(html).toContain('&lt;script&gt;x&lt;/script&gt;')
  })

  it('renders images as links so nothing is fetched', () => {
    const html = renderMarkdown('![logo](https://example.com/logo.png)', options)
    expect(html).not.toContain('<img')
    expect(html).toContain('href="https://example.com/logo.png"')
  })
})
