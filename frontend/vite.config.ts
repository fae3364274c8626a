// Vite build and dev server; Vitest reads its `test` section. Flask serves dist/ at / on the
// same origin, so every URL the app uses is relative.
import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'vitest/config'
import { katexWoff2Only, serviceWorker } from './vite.plugins'

const backend = 'http://127.0.0.1:8000'

export default defineConfig({
  plugins: [vue(), katexWoff2Only(), serviceWorker()],
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 400,
    // Never a data: URL: the CSP allows fonts only from the page's own origin.
    assetsInlineLimit: 0,
  },
  server: {
    host: '127.0.0.1',
    port: 5173,
    strictPort: true,
    proxy: {
      '/v1': { target: backend, changeOrigin: false },
      '/api': { target: backend, changeOrigin: false },
      '/metrics': { target: backend, changeOrigin: false },
    },
  },
  test: {
    include: ['src/**/__tests__/**/*.spec.ts'],
    environment: 'node',
    benchmark: { include: ['src/**/__tests__/**/*.bench.ts'] },
  },
})
