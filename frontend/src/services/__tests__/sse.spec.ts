import { describe, expect, it } from 'vitest'
import { createSseParser, readSseStream } from '../sse'
import { byteStream } from './streams'

function parse(chunks: string[]): { data: string[]; comments: string[] } {
  const data: string[] = []
  const comments: string[] = []
  const parser = createSseParser({
    onData: (value) => data.push(value),
    onComment: (text) => comments.push(text),
  })
  for (const chunk of chunks) parser.push(chunk)
  parser.end()
  return { data, comments }
}

describe('createSseParser', () => {
  it.each([
    ['one frame per chunk', ['data: {"a":1}\n\n', 'data: [DONE]\n\n']],
    ['several frames in one chunk', ['data: {"a":1}\n\ndata: [DONE]\n\n']],
    ['a frame split mid-line', ['da', 'ta: {"a"', ':1}\n', '\ndata: [DO', 'NE]\n\n']],
    ['CRLF line ends', ['data: {"a":1}\r\n\r\ndata: [DONE]\r\n\r\n']],
    ['CRLF split between chunks', ['data: {"a":1}\r', '\n\r', '\ndata: [DONE]\r\n\r\n']],
    ['bare CR line ends', ['data: {"a":1}\r\rdata: [DONE]\r\r']],
    ['heartbeats between frames', [': ping\n\n', 'data: {"a":1}\n\n: ping\n\ndata: [DONE]\n\n']],
    ['no blank line after the last frame', ['data: {"a":1}\n\ndata: [DONE]']],
    ['no space after the colon', ['data:{"a":1}\n\ndata:[DONE]\n\n']],
    ['event and id fields', ['event: message\nid: 7\ndata: {"a":1}\n\ndata: [DONE]\n\n']],
  ])('%s', (_name, chunks) => {
    expect(parse(chunks).data).toEqual(['{"a":1}', '[DONE]'])
  })

  it('reports heartbeats as comments', () => {
    expect(parse([': ping\n\n: ping\n\n']).comments).toEqual(['ping', 'ping'])
  })

  it('joins several data lines of one event with a newline', () => {
    expect(parse(['data: first\ndata: second\n\n']).data).toEqual(['first\nsecond'])
  })

  it('keeps a single event whole when every character is its own chunk', () => {
    const text = 'data: {"choices":[]}\r\n\r\n: ping\r\n\r\ndata: [DONE]\r\n\r\n'
    expect(parse(Array.from(text)).data).toEqual(['{"choices":[]}', '[DONE]'])
  })
})

describe('readSseStream', () => {
  it('decodes multi-byte UTF-8 split across network chunks', async () => {
    const bytes = new TextEncoder().encode('data: {"t":"你好🙂"}\n\n')
    const start = bytes.indexOf(0xe4) // first byte of 你
    const emoji = bytes.indexOf(0xf0) // first byte of 🙂
    const pieces = [
      bytes.slice(0, start + 1),
      bytes.slice(start + 1, start + 2),
      bytes.slice(start + 2, emoji + 2),
      bytes.slice(emoji + 2),
    ]
    const data: string[] = []
    await readSseStream(byteStream(pieces), { onData: (value) => data.push(value) })
    expect(data.map((value) => JSON.parse(value) as unknown)).toEqual([{ t: '你好🙂' }])
  })
})
