// Replies the real test model cannot give (a reasoning model's thinking, progress frames with
// exact numbers), served as recorded SSE streams. `route.fulfill` hands the page a whole body at
// once, so a stream whose frames must arrive apart in time comes from a small loopback server
// instead: the page's request is routed to it, and it writes each frame after its delay.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Page, Request } from '@playwright/test'

/** One `data:` frame, sent `afterMs` after the one before. */
export interface ScriptedFrame {
  data: unknown
  afterMs?: number
}

const ID = 'chatcmpl-recorded'
const chunk = (fields: Record<string, unknown>) => ({
  id: ID,
  object: 'chat.completion.chunk',
  created: 1,
  model: 'recorded',
  choices: [],
  ...fields,
})
const choice = (delta: Record<string, unknown>, finishReason: string | null = null) =>
  chunk({ choices: [{ index: 0, delta, finish_reason: finishReason }] })

export const frames = {
  opening: () => choice({ role: 'assistant', content: '' }),
  status: (status: Record<string, unknown>) => chunk({ status }),
  thinking: (text: string) => choice({ reasoning_content: text }),
  answer: (text: string) => choice({ content: text }),
  /** The end of a reply: finish reason, usage and timings, context, `[DONE]`. */
  end: (): ScriptedFrame[] => [
    { data: choice({}, 'stop') },
    {
      data: chunk({
        usage: {
          prompt_tokens: 20,
          completion_tokens: 8,
          total_tokens: 28,
          prompt_tokens_details: { cached_tokens: 0 },
        },
        timings: {
          queued_ms: 0,
          time_to_first_token_ms: 120,
          prompt_tokens_processed: 20,
          prompt_ms: 100,
          prompt_tokens_per_second: 200,
          completion_tokens: 8,
          decode_ms: 80,
          decode_tokens_per_second: 100,
        },
        context: {
          mode: 'summarize',
          prompt_tokens: 20,
          n_ctx: 16384,
          summarized_messages: 0,
          dropped_messages: 0,
          summary: null,
          summaries_written: 0,
        },
      }),
    },
    { data: '[DONE]' },
  ],
}

const sse = (data: unknown) => `data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`

export interface ScriptedStreams {
  /**
   * Answer the page's next chat requests with these scripts, one each, in order (later ones go
   * to the real server). Resolves once the route is in place, with the list the requests the
   * page sends are added to.
   */
  serve: (page: Page, scripts: ScriptedFrame[][]) => Promise<Request[]>
  close: () => Promise<void>
}

export async function startScriptedStreams(): Promise<ScriptedStreams> {
  const scripts = new Map<string, ScriptedFrame[]>()
  const server: Server = createServer((request, response) => {
    const script = scripts.get(request.url ?? '')
    if (!script) {
      response.writeHead(404).end()
      return
    }
    // The browser swaps the URL under the page's request: for the page (its CSP, CORS) the
    // answer still comes from its own origin.
    response.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache',
    })
    response.flushHeaders()
    void (async () => {
      for (const frame of script) {
        if (frame.afterMs) await new Promise((resolve) => setTimeout(resolve, frame.afterMs))
        if (response.destroyed) return
        response.write(sse(frame.data))
      }
      response.end()
    })()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  let served = 0

  return {
    async serve(page, queued) {
      const requests: Request[] = []
      const pending = [...queued]
      await page.route('**/v1/chat/completions', async (route) => {
        const script = pending.shift()
        if (!script) return route.fallback()
        const path = `/stream/${++served}`
        scripts.set(path, script)
        requests.push(route.request())
        await route.continue({ url: base + path })
      })
      return requests
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}
