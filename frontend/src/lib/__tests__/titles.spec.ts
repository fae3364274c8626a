import { describe, expect, it } from 'vitest'
import { titleFromMessage } from '../titles'

describe('titleFromMessage', () => {
  it('keeps the start of the first message on one line', () => {
    expect(titleFromMessage('  Plan a\ntrip  ')).toBe('Plan a trip')
    expect(Array.from(titleFromMessage('长'.repeat(100)))).toHaveLength(48)
  })
})
