"""Query results a page at a time: the first page answers the query, the rest are fetched
through `nextRecordsUrl` with the query locator Salesforce keeps for the result set.

A result set keeps its records as selected and puts each page in REST shape as it is asked
for: 500,000 contacts shaped at once held the org's lock past a client's timeout."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from connector.sandbox.salesforce.errors import SalesforceError
from connector.sandbox.salesforce.ids import make_id

MIN_BATCH, MAX_BATCH = 200, 2000
MAX_OPEN = 10  # open locators per org; opening another closes the oldest, as Salesforce does
Shape = Callable[[Mapping[str, Any]], dict[str, Any]]  # a selected record → its REST shape
Rows = tuple[Sequence[Mapping[str, Any]], int, Shape]  # records, page size, shape


def batch_size(requested: int | None) -> int:
    """Rows per page for a `Sforce-Query-Options: batchSize=N` request (200–2,000)."""
    return MAX_BATCH if requested is None else max(MIN_BATCH, min(MAX_BATCH, requested))


class QueryCursors:
    """Result sets longer than one page, by locator. Not thread-safe on its own."""

    def __init__(self) -> None:
        self._open: OrderedDict[str, Rows] = OrderedDict()
        self._issued = 0

    def first_page(
        self, rows: Sequence[Mapping[str, Any]], batch: int, api_version: str, shape: Shape
    ) -> dict[str, Any]:
        locator = ""
        if len(rows) > batch:
            self._issued += 1
            locator = make_id("01g", self._issued)[:15]
            self._open[locator] = (rows, batch, shape)
            while len(self._open) > MAX_OPEN:
                self._open.popitem(last=False)
        return _page(locator, (rows, batch, shape), 0, api_version)

    def next_page(self, locator_and_start: str, api_version: str) -> dict[str, Any]:
        """The page a locator such as `01g0000000000AB-2000` names: result set and first row."""
        locator, _, start = locator_and_start.partition("-")
        if locator not in self._open or not start.isdigit():
            raise SalesforceError("INVALID_QUERY_LOCATOR", "invalid query locator")
        return _page(locator, self._open[locator], int(start), api_version)


def _page(locator: str, result: Rows, start: int, api_version: str) -> dict[str, Any]:
    rows, batch, shape = result
    end = start + batch
    page: dict[str, Any] = {"totalSize": len(rows), "done": end >= len(rows)}
    if not page["done"]:
        page["nextRecordsUrl"] = f"/services/data/v{api_version}/query/{locator}-{end}"
    page["records"] = [shape(row) for row in rows[start:end]]
    return page
