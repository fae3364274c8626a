// Formulas: rendered by KaTeX, which loads (script, CSS, fonts) from this server only when a
// formula appears, under the strict CSP; money and code stay as written.
import { expect, importConversation, shot, test } from './fixtures'

const REPLY = [
  'The roots of $ax^2 + bx + c = 0$ are',
  '',
  '$$',
  'x = \\frac{-b \\pm \\sqrt{b^2 - 4ac}}{2a}',
  '$$',
  '',
  'and Euler wrote \\(e^{i\\pi} + 1 = 0\\), also shown as \\[\\sum_{n=1}^{\\infty} \\frac{1}{n^2} = \\frac{\\pi^2}{6}\\]',
  '',
  'A coffee costs $5 and a cake $6, so the two cost $11.',
  '',
  '```tex',
  '$x$ stays code',
  '```',
].join('\n')

test('formulas render with KaTeX from this server; money and code stay text', async ({
  page,
  baseURL,
}) => {
  const refused: string[] = []
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) refused.push(message.text())
  })
  const requested: string[] = []
  page.on('request', (request) => requested.push(request.url()))

  await page.goto('/')
  expect(requested.some((url) => /katex/i.test(url))).toBe(false)
  await importConversation(page, 'Formulas', ['Show me some formulas', REPLY])

  const reply = page.locator('[data-role="assistant"] .reply')
  await expect(reply.locator('.katex')).toHaveCount(4)
  await expect(reply.locator('.katex-display')).toHaveCount(2)
  await expect(reply).toContainText('A coffee costs $5 and a cake $6, so the two cost $11.')
  await expect(reply.locator('pre code')).toHaveText('$x$ stays code')
  // KaTeX's fonts came from this server, and the page can use them.
  await expect.poll(() => page.evaluate(() => document.fonts.check('16px KaTeX_Main'))).toBe(true)
  const fonts = requested.filter((url) => url.endsWith('.woff2'))
  expect(fonts.length).toBeGreaterThan(0)
  expect(
    requested.filter((url) => !url.startsWith(baseURL ?? '') && !url.startsWith('data:')),
  ).toEqual([])
  expect(refused).toEqual([])
  await shot(page, 'math-light')

  await page.emulateMedia({ colorScheme: 'dark' })
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark')
  await shot(page, 'math-dark')

  // Stored conversations render theirs at once after a reload.
  await page.reload()
  await expect(page.locator('[data-role="assistant"] .katex')).toHaveCount(4)
})
