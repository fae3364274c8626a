// Chatting against the real server and the tiny model: streaming, Stop, reload, IME.
import type { APIRequestContext, Page } from '@playwright/test'
import {
  composer,
  expect,
  metric,
  replies,
  send,
  storedReply,
  test,
  userMessages,
} from './fixtures'

const CANCELLED = 'pocketchat_requests_total{outcome="cancelled"}'

test.describe('streaming', () => {
  // A long greedy reply: it streams for seconds even on an idle machine (the tiny model decodes
  // thousands of tokens a second), and the test stops it once it has seen enough.
  test.use({ settings: { temperature: 0, maxTokens: 15000 } })

  test('a reply streams in over several frames', async ({ page }) => {
    await page.goto('/')
    // Record every distinct length the reply's text passes through while it streams.
    await page.evaluate(() => {
      const lengths: number[] = []
      ;(window as unknown as { replyLengths: number[] }).replyLengths = lengths
      new MutationObserver(() => {
        const reply = document.querySelector('[data-role="assistant"] .reply')
        const length = reply?.textContent?.length ?? 0
        if (length > 0 && length !== lengths.at(-1)) lengths.push(length)
      }).observe(document.body, { subtree: true, childList: true, characterData: true })
    })
    const lengths = () =>
      page.evaluate(() => (window as unknown as { replyLengths: number[] }).replyLengths)

    await send(page, 'Tell me about llamas')
    await expect(userMessages(page)).toHaveText(['Tell me about llamas'])
    // Rendered Markdown may shrink as a `**` closes, so count changes rather than demand
    // that every step grows.
    await expect.poll(async () => (await lengths()).length).toBeGreaterThanOrEqual(3)
    const seen = await lengths()
    expect(seen.at(-1)).toBeGreaterThan(seen[0] ?? 0)
    await page.keyboard.press('Escape')
    await expect(replies(page).first()).toHaveAttribute('data-status', /stopped|done/)
  })
})

/**
 * Send a message that would run for about 15000 tokens, stop it with `stop`, and check that the
 * server counted a cancelled request. The tiny model is fast: on an idle machine a reply may
 * end before Stop lands, so a finished reply means another try, not a timing assertion.
 */
async function sendAndStop(page: Page, request: APIRequestContext, stop: () => Promise<void>) {
  for (let attempt = 1; ; attempt++) {
    const cancelledBefore = await metric(request, CANCELLED)
    await send(page, `Count to a million (${attempt})`)
    const reply = replies(page).last()
    await expect(reply.locator('.reply')).not.toBeEmpty()
    await stop()
    await expect(reply).not.toHaveAttribute('data-status', 'streaming')
    if ((await reply.getAttribute('data-status')) !== 'stopped' && attempt < 3) continue

    await expect(reply).toHaveAttribute('data-status', 'stopped')
    await expect(reply.getByTestId('stopped-tag')).toBeVisible()
    await expect(page.getByRole('button', { name: 'Send' })).toBeVisible()
    await expect.poll(() => metric(request, CANCELLED)).toBeGreaterThan(cancelledBefore)
    return (await reply.locator('.reply').textContent()) ?? ''
  }
}

test('Stop ends the reply on the server and keeps the partial text', async ({ page, request }) => {
  await page.goto('/')
  // Through the settings dialog, as a person would: greedy decoding never says end-of-turn,
  // so the reply runs towards max tokens unless stopped.
  await page.getByRole('button', { name: 'Settings' }).click()
  const dialog = page.getByRole('dialog', { name: 'Settings' })
  await dialog.getByRole('spinbutton', { name: 'Temperature' }).fill('0')
  await dialog.getByRole('spinbutton', { name: 'Max tokens' }).fill('15000')
  await dialog.getByRole('button', { name: 'Close' }).click()

  const stopButton = page.getByRole('button', { name: 'Stop' })
  const partial = await sendAndStop(page, request, () =>
    stopButton.click({ timeout: 2000 }).catch(() => undefined),
  )
  expect(partial.length).toBeGreaterThan(0)

  await page.reload()
  await expect(replies(page).last()).toHaveAttribute('data-status', 'stopped')
  await expect(replies(page).last().locator('.reply')).toHaveText(partial)
})

test.describe('Esc', () => {
  test.use({ settings: { temperature: 0, maxTokens: 15000 } })

  test('Esc stops the reply too', async ({ page, request }) => {
    await page.goto('/')
    await sendAndStop(page, request, () => page.keyboard.press('Escape'))
  })
})

test.describe('persistence', () => {
  test.use({ settings: { maxTokens: 24 } })

  test('the conversation survives a reload', async ({ page }) => {
    await page.goto('/')
    await send(page, 'Remember this conversation')
    await expect(replies(page).first()).toHaveAttribute('data-status', /done|error/)
    const replyText = await replies(page).first().locator('.reply').textContent()

    await page.reload()
    await expect(
      page.getByRole('navigation').getByRole('button', { name: 'Remember this conversation' }),
    ).toBeVisible()
    await expect(userMessages(page)).toHaveText(['Remember this conversation'])
    await expect(replies(page).first().locator('.reply')).toHaveText(replyText ?? '')
  })
})

test.describe('reload while a reply streams', () => {
  test.use({ settings: { temperature: 0, maxTokens: 15000 } })

  test('keeps the text that had arrived, marked stopped', async ({ page }) => {
    await page.goto('/')
    await send(page, 'Tell me a very long story')
    // The reply is stored about once a second while it streams: wait until it has been.
    await expect.poll(async () => (await storedReply(page)).length).toBeGreaterThan(0)

    await page.reload()
    const reply = replies(page).last()
    await expect(reply).toHaveAttribute('data-status', 'stopped')
    await expect(reply.getByTestId('stopped-tag')).toBeVisible()
    await expect(reply.locator('.reply')).not.toBeEmpty()
  })
})

test('Enter while an IME is composing does not send; Enter after it does', async ({ page }) => {
  await page.goto('/')
  const box = composer(page)
  await box.fill('ni hao')
  await box.evaluate((element) => {
    element.dispatchEvent(new CompositionEvent('compositionstart', { bubbles: true }))
    element.dispatchEvent(
      new KeyboardEvent('keydown', {
        key: 'Enter',
        code: 'Enter',
        keyCode: 229,
        isComposing: true,
        bubbles: true,
        cancelable: true,
      }),
    )
    element.dispatchEvent(new CompositionEvent('compositionend', { bubbles: true, data: '你好' }))
  })
  await expect(userMessages(page)).toHaveCount(0)
  await expect(box).toHaveValue('ni hao')

  // Safari's confirming Enter arrives after compositionend, no longer composing but still 229.
  await box.evaluate((element) =>
    element.dispatchEvent(
      new KeyboardEvent('keydown', { key: 'Enter', keyCode: 229, bubbles: true, cancelable: true }),
    ),
  )
  await expect(userMessages(page)).toHaveCount(0)

  await box.press('Enter')
  await expect(userMessages(page)).toHaveText(['ni hao'])
})
