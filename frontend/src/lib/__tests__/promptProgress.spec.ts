import { describe, expect, it } from 'vitest'
import { formatDuration } from '../../i18n'
import { promptProgress, promptProgressText } from '../promptProgress'

describe('promptProgress', () => {
  it('reads the progress of a prefill or summarizing frame, and nothing else', () => {
    const reading = { prompt_tokens_done: 1240, prompt_tokens_total: 2000 }
    expect(promptProgress({ state: 'prefill', ...reading, eta_ms: 3200 })).toEqual({
      done: 1240,
      total: 2000,
      restored: 0,
      etaMs: 3200,
    })
    expect(promptProgress({ state: 'summarizing', messages: 12, ...reading })).toMatchObject({
      done: 1240,
      etaMs: null,
    })
    expect(promptProgress({ state: 'queued', queue_position: 2 })).toBeNull()
    expect(promptProgress({ state: 'generating' })).toBeNull()
    expect(promptProgress({ state: 'summarizing', messages: 12 })).toBeNull()
    expect(promptProgress(null)).toBeNull()
  })
})

describe('promptProgressText', () => {
  const reading = { done: 1240, total: 2000, restored: 0, etaMs: 3200 }
  const restored = { done: 1900, total: 2000, restored: 1900, etaMs: null }

  it.each([
    ['en', reading, 'Reading 1,240 / 2,000 tokens · about 4 s left'],
    ['zh-CN', reading, '正在阅读 1,240 / 2,000 个词元 · 约剩 4 秒'],
    ['en', { ...reading, etaMs: null }, 'Reading 1,240 / 2,000 tokens'],
    ['en', { ...reading, etaMs: 95_000 }, 'Reading 1,240 / 2,000 tokens · about 1 min 35 s left'],
    ['en', restored, 'Restored 1,900 tokens from cache · reading 100 more'],
    ['zh-CN', restored, '已从缓存恢复 1,900 个词元 · 还需阅读 100 个'],
    ['en', { ...restored, done: 2000, restored: 2000 }, 'Restored 2,000 tokens from cache'],
    ['en', { done: 1, total: 1, restored: 1, etaMs: 0 }, 'Restored 1 token from cache'],
  ] as const)('%s: %j', (locale, progress, text) => {
    expect(promptProgressText(locale, progress)).toBe(text)
  })
})

describe('formatDuration', () => {
  it.each([
    [0, '0 s', '0 秒'],
    [12, '12 s', '12 秒'],
    [120, '2 min', '2 分钟'],
    [65, '1 min 5 s', '1 分 5 秒'],
  ])('%i s', (seconds, en, zh) => {
    expect([formatDuration('en', seconds), formatDuration('zh-CN', seconds)]).toEqual([en, zh])
  })
})
