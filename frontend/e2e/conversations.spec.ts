// The sidebar: several conversations, switching, rename, export (Markdown and JSON), delete.
import { readFile } from 'node:fs/promises'
import type { Page } from '@playwright/test'
import { expect, replies, send, test, userMessages } from './fixtures'

test.use({ settings: { maxTokens: 12 } })

const list = (page: Page) => page.getByRole('navigation').getByRole('listitem')
const titles = (page: Page) => page.getByRole('navigation').locator('.conversation-title')

async function chat(page: Page, text: string): Promise<void> {
  await send(page, text)
  await expect(replies(page).last()).toHaveAttribute('data-status', 'done')
}

async function menuAction(page: Page, title: string, action: string): Promise<void> {
  const item = list(page).filter({ hasText: title })
  await item.hover()
  await item.getByLabel('More actions').click()
  await item.getByRole('menuitem', { name: action }).click()
}

test('create, switch, rename, export and delete conversations', async ({ page }) => {
  await page.goto('/')
  await chat(page, 'Alpha question')
  await page.getByRole('button', { name: 'New chat' }).click()
  await expect(userMessages(page)).toHaveCount(0)
  await chat(page, 'Beta question')
  await expect(titles(page)).toHaveText(['Beta question', 'Alpha question'])

  await list(page).getByRole('button', { name: 'Alpha question' }).click()
  await expect(userMessages(page)).toHaveText(['Alpha question'])

  await menuAction(page, 'Alpha question', 'Rename')
  await page.getByRole('textbox', { name: 'Rename' }).fill('Renamed alpha')
  await page.getByRole('textbox', { name: 'Rename' }).press('Enter')
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Renamed alpha')

  const markdownDownload = page.waitForEvent('download')
  await menuAction(page, 'Renamed alpha', 'Export as Markdown')
  const markdown = await readFile(await (await markdownDownload).path(), 'utf8')
  expect(markdown).toMatch(/^# Renamed alpha\n\n## You\n\nAlpha question\n\n## Assistant\n\n/)

  const jsonDownload = page.waitForEvent('download')
  await menuAction(page, 'Renamed alpha', 'Export as JSON')
  const exported = JSON.parse(await readFile(await (await jsonDownload).path(), 'utf8'))
  expect(exported).toMatchObject({
    format: 'pocketchat.conversation',
    version: 2,
    conversation: {
      title: 'Renamed alpha',
      messages: [{ role: 'user', content: 'Alpha question' }, { role: 'assistant' }],
    },
  })

  page.once('dialog', (dialog) => void dialog.accept())
  await menuAction(page, 'Renamed alpha', 'Delete')
  await expect(titles(page)).toHaveText(['Beta question'])
  await expect(userMessages(page)).toHaveText(['Beta question'])

  await page.reload()
  await expect(titles(page)).toHaveText(['Beta question'])
})
