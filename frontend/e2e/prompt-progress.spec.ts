// The bar under a reply while the server reads its prompt: recorded streams with prefill frames
// 400 ms apart (exact numbers, the cache, summarizing, a prompt read at once), then the real
// server with a prompt long enough to take a while.
import type { Page } from '@playwright/test'
import { expect, replies, send, shot, test } from './fixtures'
import {
  frames,
  startScriptedStreams,
  type ScriptedFrame,
  type ScriptedStreams,
} from './scriptedStream'

let streams: ScriptedStreams

test.beforeAll(async () => {
  streams = await startScriptedStreams()
})
test.afterAll(async () => {
  await streams?.close()
})

const progressBar = (page: Page) => page.getByRole('progressbar')

/** A prompt of 2,000 tokens read in steps `afterMs` apart, then a short answer. */
function slowPrompt(options: { restored?: number; state?: string; messages?: number } = {}) {
  const { restored = 0, state = 'prefill' } = options
  const reading = (done: number, etaMs?: number): ScriptedFrame => ({
    data: frames.status({
      state,
      ...(options.messages ? { messages: options.messages } : {}),
      prompt_tokens_done: done,
      prompt_tokens_total: 2000,
      prompt_tokens_restored: restored,
      ...(etaMs !== undefined ? { eta_ms: etaMs } : {}),
    }),
    afterMs: 400,
  })
  const start = Math.max(restored, 0)
  return [
    { data: frames.opening() },
    { data: frames.status({ state: 'generating' }) },
    reading(start),
    reading(start + (2000 - start) * 0.25, 3600),
    reading(start + (2000 - start) * 0.62, 3200),
    reading(start + (2000 - start) * 0.9, 600),
    reading(2000, 0),
    { data: frames.answer('Read it all.'), afterMs: 300 },
    ...frames.end(),
  ]
}

/**
 * Every state the progress bar shows from now on, as "text | aria-valuenow": frames come 400 ms
 * apart, faster than an assertion that polls could be sure to see each of them.
 */
async function recordBar(page: Page): Promise<() => Promise<string[]>> {
  await page.evaluate(() => {
    const seen: string[] = []
    ;(window as unknown as { barStates: string[] }).barStates = seen
    new MutationObserver(() => {
      const bar = document.querySelector('[role="progressbar"]')
      if (!bar) return
      const text = document.querySelector('[data-testid="prompt-progress"]')?.textContent?.trim()
      const state = `${text} | ${bar.getAttribute('aria-valuenow')}`
      if (seen.at(-1) !== state) seen.push(state)
    }).observe(document.body, {
      subtree: true,
      childList: true,
      characterData: true,
      attributes: true,
    })
  })
  return () => page.evaluate(() => (window as unknown as { barStates: string[] }).barStates)
}

test('a slow prompt shows a bar with how far it is read, gone at the first token', async ({
  page,
}) => {
  await page.goto('/')
  const barStates = await recordBar(page)
  await streams.serve(page, [slowPrompt()])
  await send(page, 'Read this long prompt')
  const bar = progressBar(page)
  await expect(bar).toBeVisible()
  await expect(bar).toHaveAccessibleName('Reading the prompt')
  await expect(bar).toHaveAttribute('aria-valuemax', '2000')
  await expect(bar).toHaveAttribute('aria-valuetext', /^Reading [\d,]+ \/ 2,000 tokens/)
  await shot(page, 'prompt-progress')

  await expect(replies(page).first().locator('.reply')).toHaveText('Read it all.')
  await expect(bar).toHaveCount(0)
  expect(await barStates()).toEqual(
    expect.arrayContaining([
      'Reading 500 / 2,000 tokens · about 4 s left | 500',
      'Reading 1,240 / 2,000 tokens · about 4 s left | 1240',
      'Reading 1,800 / 2,000 tokens · about 1 s left | 1800',
    ]),
  )
})

test('a prompt read at once shows no bar at all', async ({ page }) => {
  await page.goto('/')
  const barStates = await recordBar(page)
  await streams.serve(page, [
    [
      { data: frames.opening() },
      { data: frames.status({ state: 'generating' }) },
      {
        data: frames.status({
          state: 'prefill',
          prompt_tokens_done: 0,
          prompt_tokens_total: 40,
          prompt_tokens_restored: 0,
        }),
      },
      { data: frames.answer('Quick.'), afterMs: 100 },
      ...frames.end(),
    ],
  ])
  await send(page, 'Say something quick')
  await expect(replies(page).first()).toHaveAttribute('data-status', 'done')
  expect(await barStates()).toEqual([])
})

test('a prompt mostly restored from the cache says so', async ({ page }) => {
  await page.goto('/')
  const barStates = await recordBar(page)
  await streams.serve(page, [slowPrompt({ restored: 1900 })])
  await send(page, 'Continue where we were')
  await expect(page.getByTestId('prompt-progress')).toContainText(
    /^Restored 1,900 tokens from cache · reading \d+ more/,
  )
  await expect(replies(page).first()).toHaveAttribute('data-status', 'done')
  expect(await barStates()).toContain(
    'Restored 1,900 tokens from cache · reading 38 more · about 4 s left | 1962',
  )
})

test.describe('the real server', () => {
  test.use({ settings: { maxTokens: 4 } })

  test('shows the bar while it reads a long prompt', async ({ page }) => {
    await page.goto('/')
    const barStates = await recordBar(page)
    // About 9,000 tokens of words no earlier prompt had, so no cache holds any of them: the test
    // model reads a few thousand tokens a second on this machine, so this takes seconds.
    const run = Date.now().toString(36)
    const words = Array.from({ length: 4500 }, (_, index) => `${run}w${index}`).join(' ')
    await send(page, `Summarize: ${words}`)
    await expect(replies(page).first()).not.toHaveAttribute('data-status', 'streaming')
    await expect(progressBar(page)).toHaveCount(0)
    const states = await barStates()
    expect(states.length).toBeGreaterThan(0)
    // The system prompt's few tokens may come from a kept cache.
    const line = /^(Reading [\d,]+ \/ [\d,]+ tokens|Restored [\d,]+ tokens? from cache · reading)/
    for (const state of states) expect(state).toMatch(line)
  })
})

test.describe('zh-CN', () => {
  test.use({ locale: 'zh-CN' })

  test('the bar speaks Chinese, and so does summarizing', async ({ page }) => {
    await page.goto('/')
    const barStates = await recordBar(page)
    await streams.serve(page, [slowPrompt({ state: 'summarizing', messages: 12 })])
    await send(page, '请读这段很长的提示')
    await expect(progressBar(page)).toBeVisible()
    await expect(page.getByRole('status')).toHaveText('正在总结之前的 12 条消息…')
    await expect(progressBar(page)).toHaveAccessibleName('正在阅读提示')
    await shot(page, 'zh-CN-prompt-progress')
    await expect(progressBar(page)).toHaveCount(0)
    expect(await barStates()).toContain('正在阅读 1,240 / 2,000 个词元 · 约剩 4 秒 | 1240')
  })
})
