// Writes a streaming reply into its message: the answer and a reasoning model's thinking, each at
// most once per animation frame, and how long the model thought. The time is taken as each piece
// arrives, not when a frame writes it: from the first piece of thinking to the first of the answer
// (or to the end, for a reply stopped while it was still thinking).
import type { ChatMessage } from '../types/chat'
import { createFrameBatcher } from './frameBatcher'

export interface ReplyWriter {
  content: (text: string) => void
  reasoning: (text: string) => void
  /** Write what is pending now and settle the thinking time (the stream ended or was stopped). */
  end: () => void
}

export function createReplyWriter(options: {
  message: ChatMessage
  /** After each write, e.g. to store the conversation now and then. */
  onWrite: () => void
  /** When the thinking starts (ms since the epoch), for a live timer. */
  onThinking?: (since: number) => void
  now?: () => number
}): ReplyWriter {
  const { message, onWrite } = options
  const now = options.now ?? Date.now
  let thinkingSince: number | null = null

  const answer = createFrameBatcher({
    onFlush: (text) => {
      message.content += text
      onWrite()
    },
  })
  const thinking = createFrameBatcher({
    onFlush: (text) => {
      message.reasoning = (message.reasoning ?? '') + text
      onWrite()
    },
  })

  function settleThinking(): void {
    if (thinkingSince !== null && message.reasoningMs === undefined) {
      message.reasoningMs = now() - thinkingSince
    }
  }

  return {
    content(text) {
      settleThinking()
      answer.push(text)
    },
    reasoning(text) {
      if (thinkingSince === null) {
        thinkingSince = now()
        options.onThinking?.(thinkingSince)
      }
      thinking.push(text)
    },
    end() {
      thinking.flush()
      answer.flush()
      settleThinking()
    },
  }
}
