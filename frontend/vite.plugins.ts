// The build's own two plugins: the service worker with the list of files it caches, and KaTeX's
// fonts as WOFF2 only.
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import type { Plugin } from 'vite'

const SERVICE_WORKER_ENTRY = path.resolve(import.meta.dirname, 'src/serviceWorker/sw.ts')
const PRECACHE_PLACEHOLDER = '__POCKETCHAT_PRECACHE__'

/** Every file under a directory, relative to it, with forward slashes. */
function filesUnder(directory: string): string[] {
  return readdirSync(directory, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(directory, path.join(entry.parentPath, entry.name)))
    .map((file) => file.split(path.sep).join('/'))
}

/**
 * Builds src/serviceWorker/sw.ts into dist/sw.js (at the root: a worker's scope is its folder)
 * and writes into it the files to cache: everything the build emits and everything in public/.
 * Its version is a hash of their names and of the contents of those not named by content, so
 * any change to the app makes a new worker, which the page then offers to reload into.
 */
export function serviceWorker(): Plugin {
  let publicDir = ''
  return {
    name: 'pocketchat:service-worker',
    apply: 'build',
    enforce: 'post',
    configResolved(config) {
      publicDir = config.publicDir
    },
    buildStart() {
      this.emitFile({ type: 'chunk', id: SERVICE_WORKER_ENTRY, fileName: 'sw.js' })
    },
    generateBundle(_options, bundle) {
      const worker = bundle['sw.js']
      if (worker?.type !== 'chunk') return this.error('sw.js is missing from the bundle')
      const hash = createHash('sha256')
      const files: string[] = []
      for (const [name, output] of Object.entries(bundle)) {
        if (name === 'sw.js' || name.endsWith('.map')) continue
        files.push(name)
        hash.update(name)
        if (!name.startsWith('assets/')) {
          hash.update(output.type === 'chunk' ? output.code : output.source)
        }
      }
      for (const name of publicDir ? filesUnder(publicDir) : []) {
        files.push(name)
        hash.update(name).update(readFileSync(path.join(publicDir, name)))
      }
      const precache = { version: hash.digest('hex').slice(0, 16), files: files.sort() }
      if (!worker.code.includes(PRECACHE_PLACEHOLDER)) {
        return this.error(`${PRECACHE_PLACEHOLDER} is missing from sw.js`)
      }
      worker.code = worker.code.replaceAll(PRECACHE_PLACEHOLDER, JSON.stringify(precache))
    },
  }
}

/**
 * KaTeX's CSS names each font three times (WOFF2, WOFF, TTF); every browser that runs this app
 * reads WOFF2, so the other two are left out of the CSS and so out of the build.
 */
export function katexWoff2Only(): Plugin {
  return {
    name: 'pocketchat:katex-woff2-only',
    enforce: 'pre',
    transform(code, id) {
      if (!/[\\/]katex[\\/]dist[\\/]katex(\.min)?\.css$/.test(id.split('?')[0] ?? '')) return null
      return code.replace(
        /,\s*url\([^)]+\.woff\)\s*format\("woff"\),\s*url\([^)]+\.ttf\)\s*format\("truetype"\)/g,
        '',
      )
    },
  }
}
