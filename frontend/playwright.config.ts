// Browser tests in Debian's Chromium (never a downloaded browser) against the real backend,
// which e2e/globalSetup.ts starts on a free loopback port with the tiny test model.
import { defineConfig } from '@playwright/test'

export default defineConfig({
  testDir: './e2e',
  outputDir: 'test-results/playwright',
  globalSetup: './e2e/globalSetup.ts',
  // One worker: the server has two slots, and a shared 2-core machine has no room for more.
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 120_000,
  // Generous: the machine is shared, and the tiny model's speed varies a hundredfold with load.
  expect: { timeout: 60_000 },
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    },
    locale: 'en-US',
    viewport: { width: 1280, height: 800 },
    trace: 'off',
    screenshot: 'only-on-failure',
  },
})
