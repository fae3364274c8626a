import { describe, expect, it } from 'vitest'
import { routeFor, type Route } from '../routes'

const precached = new Set(['index.html', 'assets/index-1a2b.js', 'manifest.webmanifest'])

describe.each(['http://127.0.0.1:8000/', 'https://example.org/chat/'])('scope %s', (scope) => {
  const route = (path: string, mode = 'no-cors', method = 'GET') =>
    routeFor({ method, mode, url: new URL(path, scope).href }, scope, precached)

  it.each<[string, string, Route]>([
    ['the app', '', 'shell'],
    ['index.html', 'index.html', 'shell'],
    ['an app route', 'c/1234', 'shell'],
    ['the API', 'v1/chat/completions', 'network'],
    ['the models', 'v1/models', 'network'],
    ['the health probe', 'api/health', 'network'],
    ['the metrics', 'metrics', 'network'],
    ['the OpenAPI document', 'openapi.json', 'network'],
    ['a file', 'report.pdf', 'network'],
  ])('loads %s as a page from %s', (_name, path, expected) => {
    expect(route(path, 'navigate')).toBe(expected)
  })

  it.each<[string, string, Route]>([
    ['a built file', 'assets/index-1a2b.js', 'precached'],
    ['the manifest', 'manifest.webmanifest', 'precached'],
    ['a file of another build', 'assets/index-9z9z.js', 'network'],
    ['a built file with a query', 'assets/index-1a2b.js?v=2', 'network'],
    ['an API call', 'v1/chat/completions', 'network'],
    ['the server info', 'api/info', 'network'],
    ['a malformed path', 'assets/%E0%A4%A', 'network'],
  ])('fetches %s from %s', (_name, path, expected) => {
    expect(route(path)).toBe(expected)
  })

  it('leaves anything but GET to the network', () => {
    expect(route('assets/index-1a2b.js', 'cors', 'POST')).toBe('network')
    expect(route('', 'navigate', 'POST')).toBe('network')
  })

  it('leaves other origins alone', () => {
    expect(
      routeFor(
        { method: 'GET', mode: 'navigate', url: 'https://elsewhere.example/' },
        scope,
        precached,
      ),
    ).toBe('network')
  })
})
