// Documents in a chat against the real server (MiniLM embedder, tiny model): attach a PDF and a
// .docx, watch them index, see and open citations that survive a reload; refused and hostile
// files; the Knowledge panel. The tiny model's text is noise, the sources come from retrieval.
import type { Page } from '@playwright/test'
import { makeDocx, paragraph, printPdf } from './documents'
import { expect, replies, send, shot, test } from './fixtures'

test.use({ settings: { maxTokens: 16 } })

const TRAVEL_HTML = `<!doctype html><html><head><meta charset="utf-8"><title>Travel</title></head>
<body><h1>Travel policy</h1><p>Hotel costs in first-tier cities may not exceed six hundred yuan a
night; in other cities the limit is four hundred yuan. Costs above the limit need written approval
from a vice president before the trip.</p><h2>Flights</h2><p>Economy class is the default for
flights under six hours.</p></body></html>`

const IT_GUIDE = makeDocx(
  paragraph('IT guide', 1) +
    paragraph(
      'Reset your password at the self-service portal. If the portal is down, call the help desk ' +
        'at extension 4000, staffed from eight in the morning until six in the evening.',
    ) +
    paragraph('Laptops', 2) +
    paragraph('Laptops are replaced every four years; lost laptops must be reported at once.'),
)

const XSS_NAME = '<img src=x onerror=alert(1)>.md'

const attachInput = (page: Page) => page.locator('.composer input[type="file"]')
const attachment = (page: Page, name: string) =>
  page.getByTestId('attachments').locator('.attachment', { hasText: name })
const lastSources = (page: Page) => replies(page).last().getByTestId('sources')

/** Fail the test on any alert, confirm or prompt a document could have opened. */
function forbidDialogs(page: Page): string[] {
  const opened: string[] = []
  page.on('dialog', (dialog) => {
    opened.push(dialog.message())
    void dialog.dismiss()
  })
  return opened
}

test('a PDF and a .docx attached to a chat are cited, opened, and kept across a reload', async ({
  page,
}) => {
  const dialogs = forbidDialogs(page)
  await page.goto('/')
  await attachInput(page).setInputFiles([
    { name: 'travel-policy.pdf', mimeType: 'application/pdf', buffer: printPdf(TRAVEL_HTML) },
    {
      name: 'it-guide.docx',
      mimeType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
      buffer: IT_GUIDE,
    },
  ])
  // Each chip names its file at once, then shows progress, then "Ready".
  await expect(attachment(page, 'travel-policy.pdf')).toBeVisible()
  await expect(attachment(page, 'it-guide.docx')).toBeVisible()
  await shot(page, 'knowledge-attach')
  await expect(attachment(page, 'travel-policy.pdf')).toHaveAttribute('data-phase', 'ready')
  await expect(attachment(page, 'it-guide.docx')).toHaveAttribute('data-phase', 'ready')
  await expect(attachment(page, 'it-guide.docx')).toContainText('Ready')

  // Every status line shown while waiting: the search is announced before the first token.
  await page.evaluate(() => {
    const seen: string[] = []
    ;(window as unknown as { statusLines: string[] }).statusLines = seen
    new MutationObserver(() => {
      for (const line of document.querySelectorAll('.reply-waiting')) {
        if (line.textContent && !seen.includes(line.textContent)) seen.push(line.textContent)
      }
    }).observe(document.body, { subtree: true, childList: true, characterData: true })
  })
  await send(page, 'What is the hotel limit per night in first-tier cities?')
  await expect(lastSources(page)).toContainText('travel-policy.pdf')
  await expect(replies(page).last()).toHaveAttribute('data-status', 'done')
  const statusLines = await page.evaluate(
    () => (window as unknown as { statusLines: string[] }).statusLines,
  )
  expect(statusLines.map((line) => line.trim())).toContain('Searching 2 documents…')
  await send(page, 'Which extension do I call when the password portal is down?')
  await expect(lastSources(page)).toContainText('it-guide.docx')
  await expect(replies(page).last()).toHaveAttribute('data-status', 'done')
  await shot(page, 'knowledge-answer-light')
  await page.emulateMedia({ colorScheme: 'dark' })
  await shot(page, 'knowledge-answer-dark')
  await page.emulateMedia({ colorScheme: 'light' })

  // Open the passage of the .docx: its file name and snippet, as text.
  await lastSources(page)
    .getByRole('button', { name: /it-guide\.docx/ })
    .first()
    .click()
  const passage = page.getByTestId('source-dialog')
  await expect(passage).toBeVisible()
  await expect(passage.locator('.source-snippet')).toContainText('extension 4000')
  await page.keyboard.press('Escape')
  await expect(passage).toHaveCount(0)

  await page.reload()
  await expect(replies(page)).toHaveCount(2)
  await expect(replies(page).first().getByTestId('sources')).toContainText('travel-policy.pdf')
  await expect(lastSources(page)).toContainText('it-guide.docx')
  // The chips come back from the server, and the passage still opens.
  await expect(attachment(page, 'it-guide.docx')).toHaveAttribute('data-phase', 'ready')
  await lastSources(page).getByRole('button').first().click()
  await expect(page.getByTestId('source-dialog')).toBeVisible()
  expect(dialogs).toEqual([])
})

test.describe('on a phone, in Chinese', () => {
  test.use({ locale: 'zh-CN', viewport: { width: 390, height: 844 } })

  test('a refused file shows the server’s reason; a cited passage fits the screen', async ({
    page,
  }) => {
    await page.goto('/')
    await attachInput(page).setInputFiles([
      { name: 'setup.exe', mimeType: 'application/octet-stream', buffer: Buffer.from('MZ') },
      { name: 'empty.txt', mimeType: 'text/plain', buffer: Buffer.alloc(0) },
      {
        name: 'notes.md',
        mimeType: 'text/markdown',
        buffer: Buffer.from('# Garden\n\nThe tomatoes are watered every morning at seven.\n'),
      },
    ])
    await expect(attachment(page, 'setup.exe')).toHaveAttribute('data-phase', 'failed')
    await expect(attachment(page, 'setup.exe')).toContainText('unsupported file type .exe')
    await expect(attachment(page, 'empty.txt')).toContainText('empty.txt is empty')
    await expect(attachment(page, 'notes.md')).toHaveAttribute('data-phase', 'ready')
    await expect(attachment(page, 'notes.md')).toContainText('就绪')
    await shot(page, 'knowledge-refused-phone-zh')

    await send(page, 'When are the tomatoes watered?')
    await expect(lastSources(page)).toContainText('notes.md')
    await lastSources(page).getByRole('button').first().click()
    const passage = page.getByTestId('source-dialog')
    await expect(passage).toContainText('tomatoes')
    const box = await page.locator('dialog[open]').boundingBox()
    expect(box?.width ?? Infinity).toBeLessThanOrEqual(390)
    await shot(page, 'knowledge-passage-phone-zh')
  })
})

test('a file named like HTML shows as text and runs nothing', async ({ page }) => {
  const dialogs = forbidDialogs(page)
  await page.goto('/')
  await attachInput(page).setInputFiles([
    {
      name: XSS_NAME,
      mimeType: 'text/markdown',
      buffer: Buffer.from('# <b>Heading</b>\n\nThe secret fruit of the office is the pineapple.\n'),
    },
  ])
  await expect(attachment(page, XSS_NAME)).toHaveAttribute('data-phase', 'ready')
  await expect(attachment(page, XSS_NAME).locator('.attachment-name')).toHaveText(XSS_NAME)
  await send(page, 'What is the secret fruit of the office?')
  await expect(lastSources(page)).toContainText(XSS_NAME)
  await lastSources(page).getByRole('button').first().click()
  await expect(page.getByTestId('source-dialog')).toContainText('pineapple')
  await expect(page.locator('img')).toHaveCount(0)
  expect(dialogs).toEqual([])
})

test('the Knowledge panel manages a shared collection that a chat switches on', async ({
  page,
}) => {
  await page.goto('/')
  await page.getByTestId('open-knowledge').click()
  const panel = page.locator('dialog[open]')
  await panel.getByRole('textbox', { name: 'Collection name' }).first().fill('Handbook')
  await panel.getByRole('button', { name: 'Create' }).click()
  // A new collection is listed first.
  const collection = panel.getByTestId('collection').first()
  await expect(collection.getByRole('textbox', { name: 'Collection name' })).toHaveValue('Handbook')
  await collection.locator('input[type="file"]').setInputFiles([
    {
      name: 'parking.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from('Visitors park in the north garage, level two, free for three hours.'),
    },
    {
      name: 'canteen.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from('The canteen serves lunch from half past eleven until two.'),
    },
  ])
  await expect(collection.locator('.collection-files li')).toHaveCount(2)
  await expect(collection.locator('.collection-files li[data-status="completed"]')).toHaveCount(2)
  await expect(collection).toContainText('parking.txt')
  await collection.getByRole('checkbox', { name: 'Use in this chat' }).check()
  await shot(page, 'knowledge-panel')
  await panel.getByRole('button', { name: 'Close' }).last().click()
  await expect(page.getByTestId('header-collections')).toHaveText(/1 collection on/)

  await send(page, 'Where do visitors park?')
  await expect(lastSources(page)).toContainText('parking.txt')

  // Delete one document, rename the collection, then delete it.
  await page.getByTestId('open-knowledge').click()
  await collection.getByRole('button', { name: 'Delete canteen.txt' }).click()
  await expect(collection.locator('.collection-files li')).toHaveCount(1)
  const name = collection.getByRole('textbox', { name: 'Collection name' })
  await name.fill('Office handbook')
  await name.press('Enter')
  await expect(page.getByTestId('header-collections')).toHaveAttribute('title', 'Office handbook')
  page.once('dialog', (dialog) => void dialog.accept())
  await collection.getByRole('button', { name: 'Delete', exact: true }).click()
  await expect(page.getByTestId('header-collections')).toHaveCount(0)
})
