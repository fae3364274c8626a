// Importing conversation files: hostile content stays inert, malformed files are refused, and
// an import never replaces a conversation.
import { expect, replies, send, storedConversations, test, userMessages } from './fixtures'

const PAYLOADS = [
  '<script>window.__xss = "script"</script>',
  '<img src=x onerror="window.__xss = \'img\'">',
  '<svg onload="window.__xss = \'svg\'"></svg>',
  '<iframe src="javascript:parent.__xss = \'iframe\'"></iframe>',
  "[click me](javascript:window.__xss='link')",
  '<a href="javascript:window.__xss = \'a\'">raw link</a>',
  "![pic](javascript:window.__xss='image')",
  '```html\n<script>window.__xss = "code"</script>\n```',
  '<style>body { display: none }</style>',
  '<details open ontoggle="window.__xss = \'details\'">x</details>',
]

function conversationFile(title: string, contents: string[]): string {
  return JSON.stringify({
    format: 'pocketchat.conversation',
    version: 1,
    conversation: {
      title,
      createdAt: 1_700_000_000_000,
      updatedAt: 1_700_000_000_000,
      messages: contents.map((content, index) => ({
        role: index % 2 === 0 ? 'user' : 'assistant',
        content,
      })),
    },
  })
}

async function importFile(page: import('@playwright/test').Page, name: string, text: string) {
  await page.getByTestId('import-input').setInputFiles({
    name,
    mimeType: 'application/json',
    buffer: Buffer.from(text),
  })
}

test('an imported conversation full of XSS payloads runs no script', async ({ page }) => {
  const dialogs: string[] = []
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message())
    void dialog.dismiss()
  })
  await page.goto('/')
  const contents = PAYLOADS.flatMap((payload) => [`user says ${payload}`, payload])
  await importFile(page, 'hostile.json', conversationFile('<img src=x onerror=alert(1)>', contents))

  await expect(page.getByTestId('import-notice')).toContainText('Imported')
  await expect(userMessages(page)).toHaveCount(PAYLOADS.length)
  await expect(replies(page)).toHaveCount(PAYLOADS.length)
  // The title is shown as text, in the sidebar and the header.
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('<img src=x onerror=alert(1)>')

  const inert = await page.evaluate(() => ({
    flag: (window as unknown as { __xss?: string }).__xss ?? null,
    scripts: document.querySelectorAll(
      '.markdown script, .markdown iframe, .markdown svg, .markdown img, .markdown style',
    ).length,
    handlers: Array.from(document.querySelectorAll('.markdown *')).filter((element) =>
      Array.from(element.attributes).some((attribute) => attribute.name.startsWith('on')),
    ).length,
    javascriptLinks: document.querySelectorAll('.markdown a[href^="javascript" i]').length,
  }))
  expect(inert).toEqual({ flag: null, scripts: 0, handlers: 0, javascriptLinks: 0 })
  expect(dialogs).toEqual([])
})

test.describe('malformed files are refused with a reason', () => {
  const cases: [string, string, RegExp][] = [
    ['not-json.json', '{"format": "pocketchat.conversation",', /not valid JSON/],
    ['html.json', '<html><script>window.__xss = 1</script></html>', /not valid JSON/],
    [
      'wrong.json',
      JSON.stringify({ format: 'other', version: 1 }),
      /not a pocketchat conversation/,
    ],
    [
      'bad-role.json',
      conversationFile('x', ['hi']).replace('"user"', '"<script>window.__xss=1</script>"'),
      /conversation\.messages\.0\.role/,
    ],
  ]
  for (const [name, text, message] of cases) {
    test(name, async ({ page }) => {
      await page.goto('/')
      await importFile(page, name, text)
      await expect(page.getByTestId('import-notice')).toHaveAttribute('role', 'alert')
      await expect(page.getByTestId('import-notice')).toContainText(message)
      await expect(userMessages(page)).toHaveCount(0)
      expect(
        await page.evaluate(() => (window as unknown as { __xss?: number }).__xss),
      ).toBeUndefined()
    })
  }
})

test.describe('an import never replaces a conversation', () => {
  test.use({ settings: { maxTokens: 12 } })

  test('the same file twice gives two; the one whose id it carries stays as it was', async ({
    page,
  }) => {
    await page.goto('/')
    await send(page, 'My own question')
    await expect(replies(page).first()).not.toHaveAttribute('data-status', 'streaming')
    await expect.poll(async () => (await storedConversations(page)).length).toBe(1)
    const [existing] = await storedConversations(page)
    // The file names the existing conversation's id and its message's: both are ignored.
    const file = JSON.parse(conversationFile('Shared notes', ['shared question', 'shared answer']))
    file.conversation.id = existing!.id
    file.conversation.messages[0].id = existing!.messages[0]!.id

    const titles = page.getByRole('navigation').locator('.conversation-title')
    for (const count of [2, 3]) {
      await importFile(page, 'shared.json', JSON.stringify(file))
      await expect(titles).toHaveCount(count)
    }
    await page.reload()
    await expect(titles).toHaveText(['Shared notes', 'Shared notes', 'My own question'])
    const stored = await storedConversations(page)
    expect(stored.find((conversation) => conversation.id === existing!.id)).toEqual(existing)
    const imported = stored.filter((conversation) => conversation.id !== existing!.id)
    expect(imported.map((conversation) => conversation.messages.map((m) => m.content))).toEqual([
      ['shared question', 'shared answer'],
      ['shared question', 'shared answer'],
    ])
  })
})
