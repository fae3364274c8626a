// Search in the sidebar: a word from the middle of a long conversation finds it, marked, and
// opens it scrolled to that message, marked there too; in English and Chinese.
import type { Page } from '@playwright/test'
import { expect, importConversation, shot, test, userMessages } from './fixtures'

const filler = (topic: string, count: number) =>
  Array.from({ length: count }, (_, index) =>
    index % 2 === 0
      ? `Question ${index / 2 + 1} about ${topic}?`
      : `Answer ${(index + 1) / 2}: ${topic} `.repeat(12),
  )

async function importSome(page: Page): Promise<void> {
  await importConversation(page, 'Gardening notes', filler('tomatoes', 8))
  // The word is in the middle of the 21st of 40 messages, far below the first screen.
  const long = filler('sailing', 40)
  long[20] = `Before leaving port, check the rigging, the marmalade supply and the forecast.`
  await importConversation(page, 'Sailing trip', long)
  await importConversation(page, 'Cooking', filler('bread', 6))
}

const highlighted = (page: Page) =>
  page.evaluate(() => CSS.highlights.get('pocketchat-search')?.size ?? 0)

test('finds a conversation by a word from its middle and opens it at that message', async ({
  page,
}) => {
  await page.goto('/')
  await importSome(page)
  const search = page.getByTestId('conversation-search')
  const results = page.getByTestId('search-results').getByRole('button')

  await search.fill('MARMAL')
  await expect(results).toHaveCount(1)
  await expect(results.first()).toContainText('Sailing trip')
  await expect(results.first().locator('mark')).toHaveText('marmal')
  await shot(page, 'search-results-en')

  await page.getByRole('button', { name: 'New chat' }).click()
  await results.first().click()
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Sailing trip')
  const match = userMessages(page).filter({ hasText: 'marmalade supply' })
  await expect(match).toBeInViewport()
  await expect.poll(() => highlighted(page)).toBe(1)
  await shot(page, 'search-opened-en')

  // Both titles and messages; nothing found says so; Esc goes back to the list.
  await search.fill('tomatoes')
  await expect(results).toHaveCount(1)
  await search.fill('zebra')
  await expect(page.getByText('No conversation mentions “zebra”.')).toBeVisible()
  await search.press('Escape')
  await expect(search).toHaveValue('')
  await expect(page.getByRole('navigation').locator('.conversation-title')).toHaveText([
    'Cooking',
    'Sailing trip',
    'Gardening notes',
  ])
  await expect.poll(() => highlighted(page)).toBe(0)
})

test.describe('zh-CN', () => {
  test.use({ locale: 'zh-CN' })

  test('finds Chinese text, where no spaces separate the words', async ({ page }) => {
    await page.goto('/')
    await importConversation(page, '北京简介', [
      '用三句话介绍一下北京。',
      '北京是中国的首都。长城的八达岭段距市区约 70 公里。',
    ])
    await importConversation(page, '上海', ['上海有什么好玩的？', '外滩和豫园。'])
    const search = page.getByTestId('conversation-search')
    await expect(search).toHaveAttribute('placeholder', '搜索对话')
    await search.fill('八达岭')
    const results = page.getByTestId('search-results').getByRole('button')
    await expect(results).toHaveCount(1)
    await expect(results.first()).toContainText('北京简介')
    await results.first().click()
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('北京简介')
    await shot(page, 'search-opened-zh-CN')
    await search.fill('火星')
    await expect(page.getByText('没有对话提到“火星”。')).toBeVisible()
  })
})
