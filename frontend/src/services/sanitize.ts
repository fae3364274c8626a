// The last gate before v-html: DOMPurify with a small allowlist, links forced to open in a new
// tab without an opener. Model output and imported files are untrusted input. Formulas have a
// profile of their own (sanitizeMathHtml): KaTeX's layout needs inline styles, MathML and a few
// SVG paths, which nothing else may have.
import DOMPurify from 'dompurify'

const ALLOWED_TAGS = [
  'a',
  'b',
  'blockquote',
  'br',
  'button',
  'code',
  'del',
  'div',
  'em',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'hr',
  'i',
  'li',
  'ol',
  'p',
  'pre',
  's',
  'span',
  'strong',
  'sub',
  'sup',
  'table',
  'tbody',
  'td',
  'th',
  'thead',
  'tr',
  'ul',
]
const ALLOWED_ATTR = ['href', 'title', 'class', 'type', 'aria-label', 'start', 'colspan', 'rowspan']
// Only links that leave the page for an ordinary web or mail address; no javascript:, data:,
// vbscript:, file: or relative tricks.
const SAFE_URL = /^(?:https?:|mailto:)/i

let purifier: ReturnType<typeof DOMPurify> | null = null

function getPurifier(): ReturnType<typeof DOMPurify> {
  if (purifier) return purifier
  purifier = DOMPurify(window)
  purifier.addHook('afterSanitizeAttributes', (node) => {
    if (node.tagName !== 'A') return
    const href = node.getAttribute('href')
    if (href === null || !SAFE_URL.test(href.trim())) {
      node.removeAttribute('href')
      return
    }
    node.setAttribute('target', '_blank')
    node.setAttribute('rel', 'noopener noreferrer')
  })
  return purifier
}

export function sanitizeHtml(html: string): string {
  return getPurifier().sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR,
    ALLOW_DATA_ATTR: false,
    ALLOW_ARIA_ATTR: false,
    // target and rel are set by the hook above, after the allowlist has been applied.
  })
}

// What KaTeX's HTML and MathML output is made of, without \href, \includegraphics or \html*
// (refused anyway with trust: false): no link, no image, no URL of any kind.
const MATH_TAGS = [
  'span',
  'math',
  'semantics',
  'annotation',
  'mrow',
  'mi',
  'mn',
  'mo',
  'ms',
  'mtext',
  'mspace',
  'msup',
  'msub',
  'msubsup',
  'mfrac',
  'msqrt',
  'mroot',
  'mover',
  'munder',
  'munderover',
  'mtable',
  'mtr',
  'mtd',
  'mlabeledtr',
  'mpadded',
  'mphantom',
  'mstyle',
  'menclose',
  'svg',
  'path',
  'line',
]
const MATH_ATTR = [
  'class',
  'style',
  'aria-hidden',
  'title',
  'xmlns',
  'encoding',
  'display',
  'displaystyle',
  'scriptlevel',
  'mathvariant',
  'mathcolor',
  'mathbackground',
  'mathsize',
  'stretchy',
  'fence',
  'separator',
  'accent',
  'accentunder',
  'largeop',
  'movablelimits',
  'symmetric',
  'minsize',
  'maxsize',
  'lspace',
  'rspace',
  'linethickness',
  'linebreak',
  'notation',
  'columnalign',
  'columnlines',
  'columnspacing',
  'rowalign',
  'rowlines',
  'rowspacing',
  'width',
  'height',
  'depth',
  'voffset',
  // SVG (DOMPurify compares names in lower case).
  'viewbox',
  'preserveaspectratio',
  'd',
  'x1',
  'x2',
  'y1',
  'y2',
  'stroke-width',
]

/** KaTeX's output for one formula, kept to what KaTeX makes. */
export function sanitizeMathHtml(html: string): string {
  return getPurifier().sanitize(html, {
    ALLOWED_TAGS: MATH_TAGS,
    ALLOWED_ATTR: MATH_ATTR,
    ALLOW_DATA_ATTR: false,
    ALLOW_ARIA_ATTR: false,
  })
}
