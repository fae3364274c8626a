// Chatting past the context window: a server with N_CTX=512 summarizes (or leaves out) the oldest
// turns of an imported 30-turn conversation, the page says so, keeps every message, and hands
// the summary back with the next request.
import type { Page, Request, Response } from '@playwright/test'
import type { ChatCompletionRequest, ContextReport } from '../src/types/api'
import { startServer, type RunningServer } from './server'
import { expect, replies, send, shot, test, userMessages } from './fixtures'

const TURNS = 30
// Summarizing 30 turns means dozens of requests to the tiny model: seconds when the machine is
// idle, minutes when it is not.
const REPLY_TIMEOUT_MS = 240_000

let server: RunningServer

test.beforeAll(async () => {
  server = await startServer('server-small-context', { N_CTX: '512', PARALLEL: '1' })
})
test.afterAll(async () => {
  await server?.stop()
})

test.use({ settings: { temperature: 0, maxTokens: 32 } })
test.describe.configure({ timeout: 2 * REPLY_TIMEOUT_MS + 60_000 })

/** A walking trip planned over `TURNS` exchanges: far more than 512 tokens. */
function tripMessages(trip: string): string[] {
  return Array.from({ length: TURNS }, (_, index) => [
    `${trip}, day ${index + 1}: where do we walk, and what goes in the bag?`,
    `Day ${index + 1}: ${8 + (index % 7)} km along the ridge; water, a map, a warm layer and lunch.`,
  ]).flat()
}

async function importConversation(page: Page, title: string, contents: string[]): Promise<void> {
  const messages = contents.map((content, index) => ({
    role: index % 2 === 0 ? 'user' : 'assistant',
    content,
  }))
  await page.getByTestId('import-input').setInputFiles({
    name: 'trip.json',
    mimeType: 'application/json',
    buffer: Buffer.from(
      JSON.stringify({
        format: 'pocketchat.conversation',
        version: 1,
        conversation: { title, messages },
      }),
    ),
  })
  await expect(page.getByTestId('import-notice')).toContainText('Imported')
  await expect(userMessages(page)).toHaveCount(contents.length / 2)
  await page.getByTestId('import-notice').getByRole('button').click()
}

const isCompletion = (request: Request) =>
  request.method() === 'POST' && new URL(request.url()).pathname === '/v1/chat/completions'

/** The `context` object of a finished streamed reply's usage frame. */
async function contextOf(response: Response): Promise<ContextReport> {
  const frames = (await response.text())
    .split('\n')
    .filter((line) => line.startsWith('data: {'))
    .map((line) => JSON.parse(line.slice('data: '.length)) as { context?: ContextReport })
  const context = frames.find((frame) => frame.context)?.context
  if (!context) throw new Error('the reply had no usage frame with a context')
  return context
}

/** Send a message; resolves with the request body and the reply's context once it has ended. */
async function sendAndFinish(
  page: Page,
  text: string,
): Promise<{ body: ChatCompletionRequest; context: ContextReport }> {
  const responsePromise = page.waitForResponse((response) => isCompletion(response.request()), {
    timeout: REPLY_TIMEOUT_MS,
  })
  await send(page, text)
  const response = await responsePromise
  expect(response.status()).toBe(200)
  const reply = replies(page).last()
  await expect(reply).toHaveAttribute('data-status', 'done', { timeout: REPLY_TIMEOUT_MS })
  await expect(reply.locator('.reply')).not.toBeEmpty()
  await expect(page.getByRole('alert')).toHaveCount(0)
  return {
    body: response.request().postDataJSON() as ChatCompletionRequest,
    context: await contextOf(response),
  }
}

test('summarizes the oldest turns, shows the summary and keeps every message', async ({ page }) => {
  await page.emulateMedia({ colorScheme: 'light' })
  await page.goto(server.url)
  await expect(page.getByTestId('model-badge')).toContainText('tiny')
  const imported = tripMessages('Summer trip')
  await importConversation(page, 'Walking trip', imported)

  const first = await sendAndFinish(page, 'So what do we pack for the whole week?')
  expect(first.body.context_overflow).toBe('summarize')
  expect(first.body.context_summary).toBeUndefined()
  const summarized = first.context.summarized_messages
  expect(summarized).toBeGreaterThan(0)
  expect(first.context.summary).toMatchObject({ covers: summarized, text: expect.any(String) })

  const note = replies(page).last().locator('details.context-note')
  await expect(note.locator('summary')).toHaveText(`${summarized} earlier messages summarized`)
  await note.locator('summary').click()
  const summary = note.locator('.context-summary')
  await expect(summary).toBeVisible()
  expect((await summary.innerText()).trim()).not.toBe('')
  // Model output: rendered through the sanitizer as text, never as active HTML.
  expect(
    await summary.evaluate(
      (element) =>
        element.querySelectorAll('script, iframe, img, svg, style, object, embed').length +
        Array.from(element.querySelectorAll('*')).filter((child) =>
          Array.from(child.attributes).some((attribute) => attribute.name.startsWith('on')),
        ).length,
    ),
  ).toBe(0)
  await note.scrollIntoViewIfNeeded()
  await shot(page, 'light-summarized')
  // The tiny model writes long unbroken runs: on a phone they wrap inside the reply's column.
  await page.setViewportSize({ width: 390, height: 844 })
  const widths = await note.evaluate((element) => ({
    note: element.getBoundingClientRect().width,
    message: (element.closest('article') as HTMLElement).getBoundingClientRect().width,
  }))
  expect(widths.note).toBeLessThanOrEqual(widths.message)
  await page.setViewportSize({ width: 1280, height: 800 })

  // Summarized for the server only: the page still holds every message, in order.
  const sent = ['So what do we pack for the whole week?']
  const userTexts = () => [...imported.filter((_, index) => index % 2 === 0), ...sent]
  await expect(userMessages(page)).toHaveText(userTexts())
  await expect(replies(page)).toHaveCount(TURNS + 1)

  // The next request hands the summary back, so another replica need not write it again.
  sent.push('And how heavy may the bag be?')
  const second = await sendAndFinish(page, 'And how heavy may the bag be?')
  expect(second.body.context_summary).toEqual(first.context.summary)
  expect(second.context.summarized_messages).toBeGreaterThanOrEqual(summarized)

  await page.reload()
  await expect(userMessages(page)).toHaveText(userTexts())
  await expect(replies(page)).toHaveCount(TURNS + 2)
  await expect(replies(page).nth(TURNS).locator('details.context-note summary')).toHaveText(
    `${summarized} earlier messages summarized`,
  )
})

test('leaves out the oldest turns when the settings say so', async ({ page }) => {
  await page.goto(server.url)
  const imported = tripMessages('Autumn trip')
  await importConversation(page, 'Autumn walk', imported)

  await page.getByRole('button', { name: 'Settings' }).click()
  const dialog = page.getByRole('dialog', { name: 'Settings' })
  await dialog
    .getByRole('combobox', { name: 'When a conversation gets too long' })
    .selectOption({ label: 'Leave out the oldest messages' })
  await dialog.getByRole('button', { name: 'Close' }).click()

  const { body, context } = await sendAndFinish(page, 'Which day is the longest walk?')
  expect(body.context_overflow).toBe('truncate')
  expect(context.summary).toBeNull()
  const dropped = context.dropped_messages
  expect(dropped).toBeGreaterThan(0)
  const note = replies(page).last().locator('.context-note')
  await expect(note).toHaveText(`${dropped} earlier messages left out`)
  await expect(note.locator('summary')).toHaveCount(0)
  await expect(userMessages(page)).toHaveCount(TURNS + 1)
  await expect(replies(page)).toHaveCount(TURNS + 1)
})
