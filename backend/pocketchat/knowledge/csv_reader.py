"""CSV (.csv): each row as "header: value" lines, in sections cited by their spreadsheet rows."""

from __future__ import annotations

import csv
import io

from pocketchat.knowledge.document import Section, UnreadableDocument
from pocketchat.knowledge.normalize import normalize
from pocketchat.knowledge.text_reader import decode

CSV_SECTION_CHARS = 800


def read_csv(data: bytes, name: str) -> list[Section]:
    """Each row as "header: value; header: value" lines, so every chunk of rows keeps its header;
    sections of about CSV_SECTION_CHARS, located by their spreadsheet rows ("rows 2-14")."""
    text = decode(data, name)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:8192], ",;\t|")
    except csv.Error:
        dialect = csv.excel
    sections: list[Section] = []
    lines: list[str] = []
    chars = 0
    first_row = last_row = 2
    try:
        rows = csv.reader(io.StringIO(text), dialect)
        header = [normalize(cell).replace("\n", " ") for cell in next(rows, [])]
        for row_number, row in enumerate(rows, start=2):
            names = header + [f"column {index}" for index in range(len(header) + 1, len(row) + 1)]
            line = normalize(
                "; ".join(
                    f"{key or f'column {index}'}: {value}"
                    for index, (key, value) in enumerate(zip(names, row, strict=False), start=1)
                    if value.strip()
                )
            ).replace("\n", " ")
            if line:
                lines.append(line)
                chars += len(line)
                last_row = row_number
            if chars >= CSV_SECTION_CHARS:
                sections.append(_csv_section(lines, first_row, row_number))
                lines, chars, first_row = [], 0, row_number + 1
    except csv.Error as error:
        raise UnreadableDocument(f"{name} is not a readable CSV file ({error}).") from None
    if lines:
        sections.append(_csv_section(lines, first_row, last_row))
    if not sections and any(header):
        sections.append(Section(" | ".join(header), None, "row 1"))
    return sections


def _csv_section(lines: list[str], first_row: int, last_row: int) -> Section:
    rows = f"row {first_row}" if first_row == last_row else f"rows {first_row}-{last_row}"
    return Section("\n".join(lines), None, rows)
