// Acting on messages: copy, regenerate, edit-and-resend; and a failed request with Retry.
import { expect, replies, send, shot, test, userMessages } from './fixtures'

test.use({ settings: { maxTokens: 16 } })

test('copy, regenerate and edit a message', async ({ page, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write'])
  await page.goto('/')
  await send(page, 'First question')
  await expect(replies(page).first()).toHaveAttribute('data-status', 'done')

  await userMessages(page).first().hover()
  await page.locator('[data-role="user"]').getByRole('button', { name: 'Copy' }).click()
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('First question')

  await replies(page).first().getByRole('button', { name: 'Regenerate' }).click()
  await expect(replies(page)).toHaveCount(1)
  await expect(replies(page).first()).toHaveAttribute('data-status', 'done')

  await send(page, 'Second question')
  await expect(replies(page)).toHaveCount(2)
  await expect(replies(page).last()).toHaveAttribute('data-status', 'done')

  await page.locator('[data-role="user"]').first().getByRole('button', { name: 'Edit' }).click()
  await page.getByRole('textbox', { name: 'Edit' }).fill('Edited question')
  await page.getByRole('button', { name: 'Save & send' }).click()
  await expect(userMessages(page)).toHaveText(['Edited question'])
  await expect(replies(page)).toHaveCount(1)
  await expect(replies(page).first()).toHaveAttribute('data-status', 'done')
})

// A full queue cannot be produced on demand with two slots on a shared 2-core machine, so
// this one answer comes from the browser's router; the retry goes to the real server.
test('a busy server is explained, with its Retry-After, and Retry works', async ({ page }) => {
  await page.goto('/')
  await page.route('**/v1/chat/completions', (route) =>
    route.fulfill({
      status: 429,
      headers: { 'Retry-After': '3', 'Content-Type': 'application/json' },
      body: JSON.stringify({ error: { message: 'queue full', type: 'rate_limit', code: 'busy' } }),
    }),
  )
  await send(page, 'Are you there?')
  const alert = replies(page).first().getByRole('alert')
  await expect(alert).toContainText('The server is busy. Try again in 3 s.')
  await shot(page, 'light-error-busy')

  await page.unroute('**/v1/chat/completions')
  await alert.getByRole('button', { name: 'Retry' }).click()
  await expect(replies(page)).toHaveCount(1)
  await expect(replies(page).first()).toHaveAttribute('data-status', 'done')
})

test('an unreachable server is explained', async ({ page }) => {
  await page.goto('/')
  await page.route('**/v1/chat/completions', (route) => route.abort('connectionrefused'))
  await send(page, 'Hello?')
  await expect(replies(page).first().getByRole('alert')).toContainText('Cannot reach the server')
})
