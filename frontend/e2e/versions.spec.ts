// Reply versions against the real server: regenerating and editing keep the earlier versions,
// "< 1/3 >" switches between them, and what follows and what is sent next follow the switch.
import type { Page, Request } from '@playwright/test'
import { expect, replies, send, shot, storedConversations, test, userMessages } from './fixtures'

test.use({ settings: { maxTokens: 12 } })

const versions = (page: Page, role: 'user' | 'assistant') =>
  page.locator(`[data-role="${role}"]`).getByTestId('message-versions')

async function finished(page: Page): Promise<void> {
  await expect(replies(page).last()).not.toHaveAttribute('data-status', 'streaming')
}

/** The dialogue of each chat request the page sends, without the system prompt. */
function sentDialogues(page: Page): string[][] {
  const dialogues: string[][] = []
  page.on('request', (request: Request) => {
    if (!request.url().endsWith('/v1/chat/completions')) return
    const body = JSON.parse(request.postData() ?? '{}') as {
      messages: { role: string; content: string }[]
    }
    dialogues.push(body.messages.filter((m) => m.role !== 'system').map((m) => m.content))
  })
  return dialogues
}

test('regenerate twice, switch back to version 1, and continue from it', async ({ page }) => {
  const sent = sentDialogues(page)
  await page.goto('/')
  await send(page, 'Name a colour')
  await finished(page)
  const first = await replies(page).first().getAttribute('data-message-id')
  // As stored (the page shows it rendered): once the reply's last save has landed.
  const storedFirst = async () =>
    (await storedConversations(page))[0]?.messages.find((message) => message.id === first)
  await expect.poll(async () => (await storedFirst())?.status).toBe('done')
  const firstText = (await storedFirst())?.content

  for (const total of [2, 3]) {
    await replies(page).first().getByRole('button', { name: 'Regenerate' }).click()
    await finished(page)
    await expect(versions(page, 'assistant')).toHaveAttribute(
      'aria-label',
      `Version ${total} of ${total}`,
    )
  }
  await expect(versions(page, 'assistant')).toContainText('3/3')
  await expect(replies(page)).toHaveCount(1)
  await shot(page, 'versions-3-of-3')

  const previous = versions(page, 'assistant').getByRole('button', { name: 'Previous version' })
  await previous.click()
  await previous.click()
  await expect(versions(page, 'assistant')).toContainText('1/3')
  await expect(replies(page).first()).toHaveAttribute('data-message-id', first ?? '')
  await expect(previous).toBeDisabled()

  // The next question follows version 1: that is the reply sent with it.
  await send(page, 'And another one')
  await finished(page)
  expect(sent.at(-1)?.slice(0, 3)).toEqual(['Name a colour', firstText, 'And another one'])

  // The choice is stored: after a reload the same version shows, the others a click away.
  await page.reload()
  await expect(versions(page, 'assistant')).toContainText('1/3')
  await expect(userMessages(page)).toHaveText(['Name a colour', 'And another one'])
})

test('an edited message keeps its old branch', async ({ page }) => {
  await page.goto('/')
  await send(page, 'First question')
  await finished(page)
  await send(page, 'Second question')
  await finished(page)

  await page.locator('[data-role="user"]').first().getByRole('button', { name: 'Edit' }).click()
  await page.getByRole('textbox', { name: 'Edit' }).fill('Edited question')
  await page.getByRole('button', { name: 'Save & send' }).click()
  await finished(page)
  await expect(userMessages(page)).toHaveText(['Edited question'])
  await expect(versions(page, 'user')).toContainText('2/2')
  await shot(page, 'versions-edited')

  await versions(page, 'user').getByRole('button', { name: 'Previous version' }).click()
  await expect(userMessages(page)).toHaveText(['First question', 'Second question'])
  await expect(replies(page)).toHaveCount(2)
  await versions(page, 'user').getByRole('button', { name: 'Next version' }).click()
  await expect(userMessages(page)).toHaveText(['Edited question'])
})

test.describe('zh-CN', () => {
  test.use({ locale: 'zh-CN' })

  test('names the versions in Chinese', async ({ page }) => {
    await page.goto('/')
    await send(page, '你好')
    await finished(page)
    await replies(page).first().getByRole('button', { name: '重新生成' }).click()
    await finished(page)
    await expect(versions(page, 'assistant')).toHaveAttribute('aria-label', '第 2 个版本，共 2 个')
    await expect(
      versions(page, 'assistant').getByRole('button', { name: '上一个版本' }),
    ).toBeEnabled()
    await shot(page, 'versions-zh-CN')
  })
})

test('a conversation stored before versions existed opens unchanged and gets versions', async ({
  page,
}) => {
  await page.goto('/')
  await expect(page.getByRole('button', { name: 'New chat' })).toBeVisible()
  // The record exactly as the previous version of the app stored it: no parentId, no currentId.
  await page.evaluate(
    () =>
      new Promise<void>((resolve, reject) => {
        const open = indexedDB.open('pocketchat')
        open.onerror = () => reject(open.error)
        open.onsuccess = () => {
          const write = open.result
            .transaction('conversations', 'readwrite')
            .objectStore('conversations')
            .put({
              id: 'stored-before',
              title: 'Stored before versions',
              titleEdited: false,
              createdAt: 1,
              updatedAt: Date.now(),
              messages: [
                { id: 'a', role: 'user', content: 'Old question', createdAt: 1, status: 'done' },
                { id: 'b', role: 'assistant', content: 'Old answer', createdAt: 2, status: 'done' },
                { id: 'c', role: 'user', content: 'Follow-up', createdAt: 3, status: 'done' },
                { id: 'd', role: 'assistant', content: 'Last answer', createdAt: 4 },
              ],
              contextSummary: null,
            })
          write.onerror = () => reject(write.error)
          write.onsuccess = () => {
            open.result.close()
            resolve()
          }
        }
      }),
  )
  await page.reload()
  await expect(userMessages(page)).toHaveText(['Old question', 'Follow-up'])
  await expect(replies(page).locator('.reply')).toHaveText(['Old answer', 'Last answer'])
  await expect(page.getByTestId('message-versions')).toHaveCount(0)

  await replies(page).last().getByRole('button', { name: 'Regenerate' }).click()
  await finished(page)
  await expect(versions(page, 'assistant')).toContainText('2/2')
  await versions(page, 'assistant').getByRole('button', { name: 'Previous version' }).click()
  await expect(replies(page).locator('.reply')).toHaveText(['Old answer', 'Last answer'])
})
