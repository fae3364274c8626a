// The installable app: the manifest and its icons are served, the service worker controls the
// page after a reload, the page then opens with the server stopped (conversations readable,
// formulas too, the notice in both languages), and a new build is offered as "reload".
// Each test runs its own server on a copy of the built app, which it stops or changes.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from '@playwright/test'
import { expect, importConversation, shot, test } from './fixtures'
import { startServer, type RunningServer } from './server'

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist')

interface OwnServer {
  server: RunningServer
  staticDir: string
  page: Page
  close: () => Promise<void>
}

async function ownServer(browser: Browser, name: string, locale = 'en-US'): Promise<OwnServer> {
  const staticDir = mkdtempSync(path.join(tmpdir(), 'pocketchat-app-'))
  cpSync(dist, staticDir, { recursive: true })
  const server = await startServer(name, { STATIC_DIR: staticDir })
  const context = await browser.newContext({ baseURL: server.url, locale })
  const page = await context.newPage()
  return {
    server,
    staticDir,
    page,
    close: async () => {
      await context.close()
      await server.stop()
      rmSync(staticDir, { recursive: true, force: true })
    },
  }
}

/** Wait until a service worker is active, then reload: from now on it controls the page. */
async function installed(page: Page): Promise<void> {
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready
  })
  await page.reload()
  expect(await page.evaluate(() => navigator.serviceWorker.controller?.state)).toBe('activated')
}

const cachedPaths = (page: Page) =>
  page.evaluate(async () => {
    const paths: string[] = []
    for (const name of await caches.keys()) {
      for (const request of await (await caches.open(name)).keys()) {
        paths.push(new URL(request.url).pathname)
      }
    }
    return paths
  })

test('installs, and opens with the server stopped, conversations readable', async ({ browser }) => {
  const own = await ownServer(browser, 'offline-server')
  const { page } = own
  try {
    await page.goto('/')
    const manifestUrl = await page.locator('link[rel="manifest"]').getAttribute('href')
    const manifest = await page.request.get(manifestUrl ?? '')
    expect(manifest.headers()['content-type']).toBe('application/manifest+json')
    const { icons, start_url: startUrl } = (await manifest.json()) as {
      icons: { src: string; sizes: string; purpose: string }[]
      start_url: string
    }
    expect(startUrl).toBe('./')
    expect(icons.map((icon) => `${icon.sizes} ${icon.purpose}`)).toEqual(
      expect.arrayContaining(['192x192 any', '512x512 any', '512x512 maskable']),
    )
    for (const icon of icons) expect((await page.request.get(icon.src)).ok()).toBe(true)

    await installed(page)
    await importConversation(page, 'Kept offline', [
      'What is $x^2$?',
      'It is $x$ times itself: $x^2 = x \\cdot x$.',
    ])
    await expect(page.locator('[data-role="assistant"] .katex')).toHaveCount(2)
    // The app's files are cached, every one of them; no API answer is.
    const cached = await cachedPaths(page)
    expect(cached).toEqual(expect.arrayContaining(['/index.html', '/manifest.webmanifest']))
    expect(cached.some((file) => /\/assets\/katex-.*\.js$/.test(file))).toBe(true)
    expect(cached.filter((file) => /^\/(v1|api|metrics|openapi\.json|health)/.test(file))).toEqual(
      [],
    )

    await own.server.stop()
    await page.reload()
    const notice = page.getByTestId('connection-notice')
    await expect(notice).toContainText('Cannot reach the server')
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('Kept offline')
    await expect(page.locator('[data-role="assistant"] .katex')).toHaveCount(2)
    await shot(page, 'offline-en')
    await page.getByTestId('language-select').selectOption('zh-CN')
    await expect(notice).toContainText('无法连接服务器')
    await shot(page, 'offline-zh-CN')

    await page.context().setOffline(true)
    await expect(notice).toContainText('当前处于离线状态')
  } finally {
    await own.close()
  }
})

test('a new build is offered as a reload, which switches to it', async ({ browser }) => {
  const own = await ownServer(browser, 'update-server')
  const { page } = own
  try {
    await page.goto('/')
    await installed(page)
    await expect(page.getByTestId('update-notice')).toHaveCount(0)

    // A new build: its service worker caches under a version of its own.
    const worker = path.join(own.staticDir, 'sw.js')
    const source = readFileSync(worker, 'utf8')
    expect(source).toMatch(/"version":"[0-9a-f]+"/)
    writeFileSync(worker, source.replace(/"version":"[0-9a-f]+"/, '"version":"e2e-next"'))
    await page.reload()
    const notice = page.getByTestId('update-notice')
    await expect(notice).toContainText('A new version of pocketchat is ready.')
    await shot(page, 'update-notice-en')
    await page.getByTestId('language-select').selectOption('zh-CN')
    await expect(notice).toContainText('pocketchat 有新版本。')
    await shot(page, 'update-notice-zh-CN')

    await Promise.all([page.waitForEvent('load'), notice.getByRole('button').click()])
    await expect(page.getByTestId('update-notice')).toHaveCount(0)
    expect(await page.evaluate(() => caches.keys())).toEqual(['pocketchat-app-e2e-next'])
  } finally {
    await own.close()
  }
})
