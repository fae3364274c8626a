// Documents the knowledge tests attach: HTML printed to PDF by Debian's Chromium (as a user's
// browser would) and a minimal .docx (zip + WordprocessingML), ported from backend/tests.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { crc32 } from 'node:zlib'

export function printPdf(html: string): Buffer {
  const directory = mkdtempSync(path.join(tmpdir(), 'pocketchat-pdf-'))
  try {
    const source = path.join(directory, 'page.html')
    const target = path.join(directory, 'page.pdf')
    writeFileSync(source, html)
    const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
    const run = spawnSync(
      chromium,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-pdf-header-footer',
        `--user-data-dir=${path.join(directory, 'profile')}`,
        `--print-to-pdf=${target}`,
        `file://${source}`,
      ],
      { timeout: 120_000 },
    )
    if (run.status !== 0) throw new Error(`chromium could not print: ${String(run.stderr)}`)
    return readFileSync(target)
  } finally {
    rmSync(directory, { recursive: true, force: true })
  }
}

const W_NS = 'http://schemas.openxmlformats.org/wordprocessingml/2006/main'
const XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
const REL_NS = 'http://schemas.openxmlformats.org/package/2006/relationships'
const OFFICE_REL = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships'
const PARTS: Record<string, string> = {
  '[Content_Types].xml':
    `${XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
    '<Default Extension="xml" ContentType="application/xml"/>' +
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>' +
    '<Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/>' +
    '</Types>',
  '_rels/.rels':
    `${XML}<Relationships xmlns="${REL_NS}"><Relationship Id="rId1" Target="word/document.xml"` +
    ` Type="${OFFICE_REL}/officeDocument"/></Relationships>`,
  'word/_rels/document.xml.rels':
    `${XML}<Relationships xmlns="${REL_NS}"><Relationship Id="rId1" Target="styles.xml"` +
    ` Type="${OFFICE_REL}/styles"/></Relationships>`,
  'word/styles.xml':
    `${XML}<w:styles xmlns:w="${W_NS}">` +
    '<w:style w:type="paragraph" w:styleId="1"><w:name w:val="heading 1"/></w:style>' +
    '<w:style w:type="paragraph" w:styleId="2"><w:name w:val="heading 2"/></w:style></w:styles>',
}

/** A paragraph, or a heading when `level` is given. */
export function paragraph(text: string, level?: 1 | 2): string {
  const style = level ? `<w:pPr><w:pStyle w:val="${level}"/></w:pPr>` : ''
  return `<w:p>${style}<w:r><w:t xml:space="preserve">${text}</w:t></w:r></w:p>`
}

/** A minimal valid .docx with these paragraphs: the package parts Word itself needs. */
export function makeDocx(body: string): Buffer {
  const document = `${XML}<w:document xmlns:w="${W_NS}"><w:body>${body}</w:body></w:document>`
  return zipStored({ ...PARTS, 'word/document.xml': document })
}

/** A zip archive with its entries stored uncompressed (method 0), which every reader accepts. */
function zipStored(files: Record<string, string>): Buffer {
  const locals: Buffer[] = []
  const centrals: Buffer[] = []
  let offset = 0
  for (const [name, text] of Object.entries(files)) {
    const nameBytes = Buffer.from(name, 'utf8')
    const data = Buffer.from(text, 'utf8')
    const crc = crc32(data)
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(20, 4)
    local.writeUInt16LE(0x0800, 6)
    local.writeUInt16LE(0x21, 12)
    local.writeUInt32LE(crc, 14)
    local.writeUInt32LE(data.length, 18)
    local.writeUInt32LE(data.length, 22)
    local.writeUInt16LE(nameBytes.length, 26)
    const central = Buffer.alloc(46)
    central.writeUInt32LE(0x02014b50, 0)
    central.writeUInt16LE(20, 4)
    central.writeUInt16LE(20, 6)
    central.writeUInt16LE(0x0800, 8)
    central.writeUInt16LE(0x21, 14)
    central.writeUInt32LE(crc, 16)
    central.writeUInt32LE(data.length, 20)
    central.writeUInt32LE(data.length, 24)
    central.writeUInt16LE(nameBytes.length, 28)
    central.writeUInt32LE(offset, 42)
    locals.push(local, nameBytes, data)
    centrals.push(central, nameBytes)
    offset += local.length + nameBytes.length + data.length
  }
  const directory = Buffer.concat(centrals)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(Object.keys(files).length, 8)
  end.writeUInt16LE(Object.keys(files).length, 10)
  end.writeUInt32LE(directory.length, 12)
  end.writeUInt32LE(offset, 16)
  return Buffer.concat([...locals, directory, end])
}
