"""A job's results parsed a part at a time give what parsing them whole gives."""

from __future__ import annotations

import random

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from connector.crm.salesforce import csv_parts
from connector.crm.salesforce.csv_parts import parsed_in_parts

COLUMNS = ["Key__c", "sf__Id"]


def _results(rows: int) -> bytes:
    """Successful results as Salesforce writes them: every field uploaded repeated, a
    description with line breaks, commas and doubled quotes inside its quotes."""
    lines = ['"sf__Id","sf__Created","Key__c","Description"']
    for n in range(rows):
        text = f'利用状況\n"{n}", 確認\r\nしてください' if n % 3 else ""
        escaped = text.replace('"', '""')
        lines.append(f'"00T{n:015d}","true","key-{n}","{escaped}"')
    return ("\n".join(lines) + "\n").encode()


def _pieces(content: bytes, seed: int) -> list[bytes]:
    """`content` cut at random places, as a connection hands it over."""
    cuts = sorted(random.Random(seed).sample(range(1, len(content)), 40))
    return [content[a:b] for a, b in zip([0, *cuts], [*cuts, len(content)], strict=True)]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("part", [1, 64, 1000, 10**9])
def test_parts_cut_where_records_end_parse_as_the_whole(seed: int, part: int) -> None:
    content = _results(60)
    whole = pl.read_csv(content, columns=COLUMNS, infer_schema=False)

    parsed = parsed_in_parts(_pieces(content, seed), COLUMNS, part=part)

    assert parsed.height == 60
    assert_frame_equal(parsed, whole)
    assert parsed["Key__c"].to_list() == [f"key-{n}" for n in range(60)]


def test_the_answer_is_parsed_a_part_at_a_time_as_it_arrives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A first run's successful results were ~90 MB held whole: each part parsed is about
    `part` bytes (with the piece that crossed it), never the whole answer."""
    content, piece, part = _results(3_000), 4096, 16 * 1024
    sizes: list[int] = []
    parse = csv_parts._parsed

    def measured(part_content: bytes, columns: list[str]) -> pl.DataFrame:
        sizes.append(len(part_content))
        return parse(part_content, columns)

    monkeypatch.setattr(csv_parts, "_parsed", measured)
    pieces = (content[n : n + piece] for n in range(0, len(content), piece))

    parsed = parsed_in_parts(pieces, COLUMNS, part=part)

    assert parsed.height == 3_000
    assert len(sizes) > 10
    assert max(sizes) < part + piece + 200  # a part, the piece that crossed it, a header
    assert sum(sizes) < len(content) + len(sizes) * 200  # each record parsed once


def test_no_result_and_a_header_alone_are_empty_frames_with_the_columns() -> None:
    empty = pl.DataFrame(schema=dict.fromkeys(COLUMNS, pl.String))
    assert_frame_equal(parsed_in_parts([], COLUMNS), empty)
    assert_frame_equal(parsed_in_parts([b'"sf__Id","Key__c"\n'], COLUMNS), empty)
    assert_frame_equal(parsed_in_parts([b'"sf__Id",', b'"Key__c"'], COLUMNS), empty)
