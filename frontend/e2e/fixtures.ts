// What every browser test shares: the live server's URL as baseURL, stored settings, and
// helpers that read the server's metrics, the page's messages and what it stored.
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { test as base, expect, type APIRequestContext, type Page } from '@playwright/test'

export { expect }

export interface StoredSettings {
  temperature?: number
  maxTokens?: number
}

export const test = base.extend<{ settings: StoredSettings }>({
  baseURL: async ({}, use) => {
    const url = process.env.POCKETCHAT_URL
    if (!url) throw new Error('POCKETCHAT_URL is not set: globalSetup did not start the server')
    await use(url)
  },
  settings: [{}, { option: true }],
  page: async ({ page, settings }, use) => {
    // Seeded once per browser context, before the app reads it on first load.
    await page.addInitScript((stored) => {
      if (sessionStorage.getItem('e2e-seeded')) return
      sessionStorage.setItem('e2e-seeded', '1')
      if (Object.keys(stored).length > 0) {
        localStorage.setItem('pocketchat.settings', JSON.stringify(stored))
      }
    }, settings)
    await use(page)
  },
})

export const composer = (page: Page) => page.getByRole('textbox', { name: /message|消息/i })
export const replies = (page: Page) => page.locator('[data-role="assistant"]')
export const userMessages = (page: Page) => page.locator('[data-role="user"] .user-bubble')

export async function send(page: Page, text: string): Promise<void> {
  await composer(page).fill(text)
  await composer(page).press('Enter')
}

/** A counter of the Prometheus text at /metrics, 0 when it has no sample yet. */
export async function metric(request: APIRequestContext, sample: string): Promise<number> {
  const text = await (await request.get('/metrics')).text()
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${sample} `))
  return line ? Number(line.slice(sample.length + 1)) : 0
}

export interface StoredConversation {
  id: string
  title: string
  messages: { id: string; role: string; content: string; status?: string }[]
}

/**
 * Every conversation in the page's IndexedDB, as the app stored it. Call it once the app has
 * opened its database: opening one that does not exist yet would create it without its store.
 */
export function storedConversations(page: Page): Promise<StoredConversation[]> {
  return page.evaluate(
    () =>
      new Promise<StoredConversation[]>((resolve, reject) => {
        const open = indexedDB.open('pocketchat')
        open.onerror = () => reject(open.error)
        open.onsuccess = () => {
          const read = open.result
            .transaction('conversations')
            .objectStore('conversations')
            .getAll()
          read.onerror = () => reject(read.error)
          read.onsuccess = () => {
            resolve(read.result as StoredConversation[])
            open.result.close()
          }
        }
      }),
  )
}

/** The text of the last reply stored, '' before one is. */
export async function storedReply(page: Page): Promise<string> {
  const messages = (await storedConversations(page)).flatMap((stored) => stored.messages)
  return messages.findLast((message) => message.role === 'assistant')?.content ?? ''
}

const screenshotDir = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../test-results/screenshots',
)

/** A screenshot for a person to look at, with transitions run to their end. */
export function shot(page: Page, name: string): Promise<Buffer> {
  return page.screenshot({ path: path.join(screenshotDir, `${name}.png`), animations: 'disabled' })
}

/** Import a conversation (a version 1 file: user and assistant take turns), as a person would. */
export async function importConversation(
  page: Page,
  title: string,
  contents: string[],
): Promise<void> {
  const messages = contents.map((content, index) => ({
    role: index % 2 === 0 ? 'user' : 'assistant',
    content,
  }))
  await page.getByTestId('import-input').setInputFiles({
    name: 'conversation.json',
    mimeType: 'application/json',
    buffer: Buffer.from(
      JSON.stringify({
        format: 'pocketchat.conversation',
        version: 1,
        conversation: { title, messages },
      }),
    ),
  })
  await expect(page.getByTestId('import-notice')).toContainText(title)
  await page.getByTestId('import-notice').getByRole('button').click()
}
