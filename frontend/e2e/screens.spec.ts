// The UI in Chinese, and screenshots of the main screens (light, dark, phone, zh-CN) written to
// test-results/screenshots/ for a person to look at.
import type { Page } from '@playwright/test'
import { expect, replies, send, shot, test } from './fixtures'

const DEMO_EN = [
  'How do I read a file line by line in Python?',
  [
    'Open the file in a `with` block and iterate over it; each step yields one line:',
    '',
    '```python',
    'with open("notes.txt", encoding="utf-8") as file:',
    '    for number, line in enumerate(file, start=1):',
    '        print(number, line.rstrip())',
    '```',
    '',
    '- The file is **closed automatically**, even after an error.',
    '- Lines keep their `\\n`; `rstrip()` removes it.',
    '',
    '| mode | meaning |',
    '|---|---|',
    '| `r` | read text (default) |',
    '| `rb` | read bytes |',
    '',
    'See https://docs.python.org/3/tutorial/inputoutput.html for more.',
  ].join('\n'),
  'And in the shell?',
  '```bash\nwhile IFS= read -r line; do\n  echo "$line"\ndone < notes.txt\n```',
]

const DEMO_ZH = [
  '用三句话介绍一下北京。',
  '北京是中国的首都，有三千多年的历史。\n\n- **故宫**是世界上现存规模最大的木质结构古建筑群。\n- 长城的八达岭段距市区约 70 公里。\n\n秋天（9–10 月）是最适合旅行的季节。',
]

function demoFile(title: string, contents: string[]): Buffer {
  const messages = contents.map((content, index) => ({
    role: index % 2 === 0 ? 'user' : 'assistant',
    content,
  }))
  return Buffer.from(
    JSON.stringify({
      format: 'pocketchat.conversation',
      version: 1,
      conversation: { title, messages },
    }),
  )
}

async function importDemo(page: Page, title: string, contents: string[]): Promise<void> {
  await page.getByTestId('import-input').setInputFiles({
    name: 'demo.json',
    mimeType: 'application/json',
    buffer: demoFile(title, contents),
  })
  await expect(replies(page)).toHaveCount(contents.length / 2)
  await page.getByTestId('import-notice').getByRole('button').click()
}

test.describe('zh-CN browser', () => {
  test.use({ locale: 'zh-CN' })

  test('shows the UI in Simplified Chinese, switchable to English and remembered', async ({
    page,
  }) => {
    await page.goto('/')
    await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN')
    await expect(page.getByRole('button', { name: '新对话' })).toBeVisible()
    await expect(page.getByText('有什么可以帮您？')).toBeVisible()
    await expect(page.getByRole('textbox', { name: '消息' })).toHaveAttribute(
      'placeholder',
      '输入消息…',
    )
    await expect(page.getByText('Enter 发送 · Shift+Enter 换行')).toBeVisible()
    await shot(page, 'zh-CN-welcome')

    await importDemo(page, '北京简介', DEMO_ZH)
    await shot(page, 'zh-CN-conversation')

    await page.getByTestId('language-select').selectOption('en')
    await expect(page.locator('html')).toHaveAttribute('lang', 'en')
    await page.reload()
    await expect(page.getByRole('button', { name: 'New chat' })).toBeVisible()
  })
})

test.describe('screenshots', () => {
  test.use({ settings: { maxTokens: 60 } })

  test('light and dark, desktop, with no request to another host', async ({ page, baseURL }) => {
    // Fonts, icons and highlighting are bundled: the app must work offline.
    const foreign: string[] = []
    page.on('request', (request) => {
      const url = new URL(request.url())
      if (!['blob:', 'data:'].includes(url.protocol) && url.origin !== baseURL) {
        foreign.push(request.url())
      }
    })
    await page.goto('/')
    await expect(page.getByTestId('model-badge')).toContainText('tiny')
    await shot(page, 'light-welcome')
    await importDemo(page, 'Reading files in Python', DEMO_EN)
    await shot(page, 'light-conversation')
    const item = page.getByRole('navigation').getByRole('listitem').first()
    await item.getByLabel('More actions').click()
    await shot(page, 'light-conversation-menu')
    await item.getByLabel('More actions').click()

    await page.emulateMedia({ colorScheme: 'dark' })
    await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark')
    await shot(page, 'dark-conversation')

    await page.getByRole('button', { name: 'Settings' }).click()
    await expect(page.getByTestId('settings-form')).toBeVisible()
    await shot(page, 'dark-settings')
    expect(foreign).toEqual([])
  })

  test('a finished reply shows time to first token and tokens/s', async ({ page }) => {
    await page.goto('/')
    await send(page, 'Write a haiku about small computers')
    await expect(replies(page).first()).toHaveAttribute('data-status', 'done')
    await expect(page.getByTestId('reply-stats')).toContainText(
      /first token \d+ ms · [\d.,]+ tokens\/s/,
    )
    await shot(page, 'light-live-reply')
  })

  test('phone width', async ({ page }) => {
    await page.goto('/')
    await importDemo(page, 'Reading files in Python', DEMO_EN)
    await page.setViewportSize({ width: 390, height: 844 })
    await shot(page, 'phone-conversation')
    await page.getByTestId('open-sidebar').click()
    await expect(page.getByRole('button', { name: 'New chat' }).first()).toBeVisible()
    await shot(page, 'phone-drawer')
  })
})
