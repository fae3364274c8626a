// A reasoning model's thinking: folded above the answer ("Thinking…" while it streams, "Thought
// for N s" after), opened on a click, kept across a reload, and never sent back to the server.
// The test model cannot think, so its streams are recorded ones: `reasoning_content` deltas as
// the server sends them, and a `<think>` block in the text as older servers leave it.
import type { Page, Request } from '@playwright/test'
import { expect, replies, send, shot, storedConversations, test } from './fixtures'
import { frames, startScriptedStreams, type ScriptedStreams } from './scriptedStream'

let streams: ScriptedStreams

test.beforeAll(async () => {
  streams = await startScriptedStreams()
})
test.afterAll(async () => {
  await streams?.close()
})

const THOUGHTS = [
  'The user asks why the sky is blue. ',
  'Short wavelengths scatter more (**Rayleigh**). ',
  'Mention <img src=x onerror="document.title=\'pwned\'"> nothing else.',
]

/** Thinking for about two seconds, then the answer. */
function thinkingReply(answer: string) {
  return [
    { data: frames.opening() },
    ...THOUGHTS.map((text) => ({ data: frames.thinking(text), afterMs: 700 })),
    { data: frames.answer(answer), afterMs: 700 },
    ...frames.end(),
  ]
}

/** As a server that does not split the thinking sends it: inside the text. */
const olderServerReply = (answer: string) => [
  { data: frames.opening() },
  { data: frames.answer('<think>\nThe sun is low') },
  { data: frames.answer(': the light crosses more air.\n</think>\n\n') },
  { data: frames.answer(answer) },
  ...frames.end(),
]

const fold = (page: Page, index: number) => replies(page).nth(index).getByTestId('reasoning')

function sentMessages(request: Request | undefined): { role: string; content: string }[] {
  return (
    JSON.parse(request?.postData() ?? '{}') as { messages: { role: string; content: string }[] }
  ).messages
}

test('the thinking shows folded, opens, stays after a reload, and is never sent back', async ({
  page,
}) => {
  await page.goto('/')
  const sent = await streams.serve(page, [
    thinkingReply('Because blue light scatters most.'),
    olderServerReply('Red light gets through.'),
  ])
  await send(page, 'Why is the sky blue?')
  const first = fold(page, 0)
  await expect(first.locator('summary')).toHaveText(/^Thinking… \d s$/)
  await expect(first).toHaveAttribute('data-live', 'true')
  await expect(replies(page).first()).toHaveAttribute('data-status', 'done')
  await expect(first.locator('summary')).toHaveText(/^Thought for \d s$/)
  await expect(replies(page).first().locator('.reply')).toHaveText(
    'Because blue light scatters most.',
  )

  // Folded: the thinking is not on screen until asked for.
  await expect(first.getByText('Rayleigh')).toBeHidden()
  await first.locator('summary').click()
  await expect(first.locator('.reasoning-text')).toContainText('Short wavelengths scatter more')
  await expect(first.locator('.reasoning-text strong')).toHaveText('Rayleigh')
  // Model output: the tag is shown as text, never made an element.
  await expect(first.locator('.reasoning-text')).toContainText('<img src=x')
  await expect(first.locator('img')).toHaveCount(0)
  await shot(page, 'reasoning-open')

  await send(page, 'And at sunset?')
  await expect(replies(page).nth(1)).toHaveAttribute('data-status', 'done')
  await expect(replies(page).nth(1).locator('.reply')).toHaveText('Red light gets through.')
  await expect(fold(page, 1).locator('summary')).toHaveText(/^Thought for \d s$/)
  await fold(page, 1).locator('summary').click()
  await expect(fold(page, 1).locator('.reasoning-text')).toHaveText(
    'The sun is low: the light crosses more air.',
  )

  // The second request carries the first answer, and nothing of what the model thought.
  expect(sent).toHaveLength(2)
  const history = sentMessages(sent[1]).filter((message) => message.role !== 'system')
  expect(history).toEqual([
    { role: 'user', content: 'Why is the sky blue?' },
    { role: 'assistant', content: 'Because blue light scatters most.' },
    { role: 'user', content: 'And at sunset?' },
  ])
  expect(sent[1]?.postData()).not.toContain('Rayleigh')

  const stored = (await storedConversations(page))[0]?.messages as
    { reasoning?: string; reasoningMs?: number }[] | undefined
  expect(stored?.[1]?.reasoning).toBe(THOUGHTS.join('').trim())
  expect(stored?.[1]?.reasoningMs).toBeGreaterThan(1000)

  await page.reload()
  await expect(fold(page, 0).locator('summary')).toHaveText(/^Thought for \d s$/)
  await fold(page, 0).locator('summary').click()
  await expect(fold(page, 0).locator('.reasoning-text')).toContainText('Short wavelengths')
  expect(await page.title()).not.toBe('pwned')
})

test.describe('zh-CN', () => {
  test.use({ locale: 'zh-CN' })

  test('the fold speaks Chinese', async ({ page }) => {
    await page.goto('/')
    await streams.serve(page, [thinkingReply('因为蓝光散射得最多。')])
    await send(page, '天空为什么是蓝色的？')
    await expect(fold(page, 0).locator('summary')).toHaveText(/^正在思考… \d 秒$/)
    await shot(page, 'zh-CN-reasoning-thinking')
    await expect(fold(page, 0).locator('summary')).toHaveText(/^已思考 \d 秒$/)
    await fold(page, 0).locator('summary').click()
    await expect(fold(page, 0).locator('.reasoning-text')).toContainText('Rayleigh')
    await shot(page, 'zh-CN-reasoning-open')
  })
})
