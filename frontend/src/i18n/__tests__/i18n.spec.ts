import { describe, expect, it } from 'vitest'
import { detectLocale, translate } from '..'

describe('detectLocale', () => {
  it.each([
    [['zh-CN'], 'zh-CN'],
    [['zh-TW', 'en-US'], 'zh-CN'],
    [['zh'], 'zh-CN'],
    [['en-GB', 'zh-CN'], 'en'],
    [['fr-FR', 'zh-CN'], 'zh-CN'],
    [['fr-FR'], 'en'],
    [[], 'en'],
  ])('%j → %s', (languages, expected) => {
    expect(detectLocale(languages)).toBe(expected)
  })
})

describe('translate', () => {
  it('fills parameters and picks the plural form by n', () => {
    expect(translate('en', 'summarizedNote', { n: 1 })).toBe('1 earlier message summarized')
    expect(translate('en', 'summarizedNote', { n: 12 })).toBe('12 earlier messages summarized')
    expect(translate('zh-CN', 'summarizedNote', { n: 12 })).toBe('已总结之前的 12 条消息')
  })
})
