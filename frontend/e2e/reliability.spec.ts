// What the browser keeps when things go wrong: a renderer that crashes in the middle of a reply,
// and a disk too full to store the conversation.
import type { Page } from '@playwright/test'
import { expect, replies, send, shot, storedReply, test, userMessages } from './fixtures'

test.describe('a crash mid-reply', () => {
  // A long greedy reply (see chat.spec.ts): it is still streaming when the page crashes.
  test.use({ settings: { temperature: 0, maxTokens: 15000 } })

  test('keeps the partial reply, marked stopped', async ({ page, context }) => {
    const question = 'Tell me a very long story'
    await page.goto('/')
    await send(page, question)
    await expect(replies(page).last().locator('.reply')).not.toBeEmpty()
    // The reply is stored about once a second while it streams: crash once some of it has been.
    await expect.poll(async () => (await storedReply(page)).length).toBeGreaterThan(0)
    const storedBeforeCrash = await storedReply(page)

    // The renderer dies as in a real crash: no unload handler runs, no last save is made.
    const crashed = page.waitForEvent('crash')
    const devtools = await context.newCDPSession(page)
    // Never answered: the page it was sent to is gone.
    devtools.send('Page.crash').catch(() => undefined)
    await crashed

    const reopened = await context.newPage()
    await reopened.goto('/')
    await expect(
      reopened.getByRole('navigation').getByRole('button', { name: question }),
    ).toBeVisible()
    await expect(userMessages(reopened)).toHaveText([question])
    const reply = replies(reopened).last()
    await expect(reply).toHaveAttribute('data-status', 'stopped')
    await expect(reply.getByTestId('stopped-tag')).toBeVisible()
    await expect(reply.locator('.reply')).not.toBeEmpty()
    // What had been stored survived whole (a later save may have added to it).
    expect((await storedReply(reopened)).startsWith(storedBeforeCrash)).toBe(true)
  })
})

/** While it is set, every IndexedDB write of the page fails as it does on a full disk. */
async function setDiskFull(page: Page, full: boolean): Promise<void> {
  await page.evaluate((value) => {
    ;(window as unknown as { diskFull: boolean }).diskFull = value
  }, full)
}

test.describe('a full disk', () => {
  test.use({ settings: { maxTokens: 24 } })

  test.beforeEach(async ({ page }) => {
    await page.addInitScript(() => {
      type Write = (this: IDBObjectStore, ...args: unknown[]) => IDBRequest
      const store = IDBObjectStore.prototype as unknown as Record<'put' | 'add', Write>
      for (const method of ['put', 'add'] as const) {
        const write = store[method]
        store[method] = function (...args) {
          if ((window as unknown as { diskFull?: boolean }).diskFull) {
            throw new DOMException('The quota has been exceeded.', 'QuotaExceededError')
          }
          return write.apply(this, args)
        }
      }
    })
  })

  test('is reported, keeps the messages, and clears once a save works', async ({ page }) => {
    await page.goto('/')
    const alert = page.getByTestId('save-alert')
    const finished = (index: number) =>
      expect(replies(page).nth(index)).not.toHaveAttribute('data-status', 'streaming')

    await setDiskFull(page, true)
    await send(page, 'Remember me')
    await finished(0)
    await expect(alert).toHaveAttribute('role', 'alert')
    await expect(alert).toContainText('the browser’s storage is full')
    await expect(userMessages(page)).toHaveText(['Remember me'])
    await expect(replies(page).first().locator('.reply')).not.toBeEmpty()
    await shot(page, 'save-alert-en')
    await page.getByTestId('language-select').selectOption('zh-CN')
    await expect(alert).toContainText('浏览器存储空间已满')
    await shot(page, 'save-alert-zh-CN')
    await page.getByTestId('language-select').selectOption('en')

    await setDiskFull(page, false)
    await send(page, 'And this')
    await finished(1)
    await expect(alert).toHaveCount(0)
    await page.reload()
    await expect(userMessages(page)).toHaveText(['Remember me', 'And this'])
    await expect(replies(page)).toHaveCount(2)

    // Full again: the alert comes back, and Dismiss closes it; the messages stay on the page.
    await setDiskFull(page, true)
    await send(page, 'Once more')
    await finished(2)
    await expect(alert).toBeVisible()
    await alert.getByRole('button', { name: 'Dismiss' }).click()
    await expect(alert).toHaveCount(0)
    await expect(userMessages(page)).toHaveText(['Remember me', 'And this', 'Once more'])
  })
})
