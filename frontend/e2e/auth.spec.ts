// A server with API_KEY set: the page asks for the key on the first 401, keeps it, and uses it.
import { startServer, type RunningServer } from './server'
import { expect, replies, send, shot, test } from './fixtures'

let server: RunningServer

test.beforeAll(async () => {
  server = await startServer('server-with-key', { API_KEY: 'e2e-secret-key' })
})
test.afterAll(async () => {
  await server?.stop()
})

test.use({ settings: { maxTokens: 8 } })

test('asks for the API key on 401, refuses a wrong one, and remembers the right one', async ({
  page,
}) => {
  await page.goto(server.url)
  const dialog = page.getByRole('dialog', { name: 'API key required' })
  await expect(dialog).toBeVisible()

  await dialog.getByLabel('API key').fill('wrong')
  await dialog.getByRole('button', { name: 'Save' }).click()
  await expect(dialog.getByRole('alert')).toHaveText('The server did not accept that key.')
  await shot(page, 'light-api-key')
  await dialog.getByLabel('API key').fill('e2e-secret-key')
  await dialog.getByRole('button', { name: 'Save' }).click()
  await expect(dialog).toBeHidden()
  await expect(page.getByTestId('model-badge')).toContainText('tiny')

  await send(page, 'Hello with a key')
  await expect(replies(page).first()).toHaveAttribute('data-status', 'done')

  await page.reload()
  await expect(page.getByTestId('model-badge')).toContainText('tiny')
  await expect(dialog).toBeHidden()
})
