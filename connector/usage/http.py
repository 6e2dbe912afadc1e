"""The company's usage API over HTTP(S): weekly metrics per account, page by page.

The default contract (docs/usage-api.md; the sandbox implements it):
`GET {base}/v1/usage/weekly?since=YYYY-MM-DD&limit=N[&cursor=C]` with a bearer token →
`{"data": [{"account_key": "...", "week_start": "YYYY-MM-DD", "metrics": {"logins": 12, ...}}],
  "next_cursor": "..." | null}`. The mapping can name other paths for the rows, the key,
the week and each metric, and page or offset pagination instead of a cursor.

A page is read by polars straight into columns (every value at a path as text), then, on
the same thread and `CHECK_ROWS` rows (a few pages) at a time, cast and checked with
expressions (`connector.usage.rows.check_page`): a read holds its usable rows typed, not
their text, and puts them together at the end. Only a page polars refuses (a row that is
not an object, a list where a value should be) is taken apart row by row to say which rows
are wrong. Cursor pages come one after the other, the next asked for as soon as this one's
cursor is read, while this one is parsed and checked beside it (that does not add to each
page's wait); numbered pages and offsets `concurrency` at a time. With an `until` parameter
(`usage.http.until_param`), cursor reads are cut into streams of whole weeks
(`week_spans`), `concurrency` streams at once, each paging its own cursor.

However the threads finish, the rows are put together in page order (streams by their weeks,
each stream's pages as its cursor gave them, numbered pages by number), the order the rule
for a tenant-week served twice reads (`connector.usage.rows`: the last received wins).
"""

from __future__ import annotations

import functools
import io
import json
import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import replace
from datetime import date
from typing import Any, Literal, Protocol

import httpx
import polars as pl

from connector.errors import (
    UntilIgnored,
    UsageCredentialsRejected,
    UsageQualityError,
    UsageSourceError,
)
from connector.transport import Action, Resolution, RetryPolicy, retry_after_seconds
from connector.usage.rows import (
    KEY,
    WEEK,
    CheckedPage,
    RowShape,
    UsageBatch,
    check_page,
    combined,
    field_at,
)
from connector.usage.week_spans import WeekSpan, first_week_after, week_spans

_ROW = "_row"
# Rows typed and checked at once: polars' fixed cost per expression, paid per page of 1,000
# rows, made checking 800 pages 2.6 times the CPU of checking them 20 at a time.
CHECK_ROWS = 20_000


class Paging(Protocol):
    """How the API pages its answer (the mapping's `usage.http` section)."""

    @property
    def path(self) -> str: ...
    @property
    def records(self) -> str: ...
    @property
    def pagination(self) -> Literal["cursor", "page", "offset"]: ...
    @property
    def next_cursor(self) -> str: ...
    @property
    def page_size(self) -> int: ...
    @property
    def first_page(self) -> int: ...
    @property
    def since_param(self) -> str: ...
    @property
    def until_param(self) -> str | None: ...
    @property
    def limit_param(self) -> str: ...
    @property
    def cursor_param(self) -> str: ...
    @property
    def page_param(self) -> str: ...
    @property
    def offset_param(self) -> str: ...


def classify(exc: Exception) -> Resolution | None:
    """What a failed usage-API page means: 429, 5xx and no answer are worth another try
    (reading is safe to repeat); any other refusal is a setting to fix."""
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        if status == 429 or status >= 500:
            error = UsageSourceError(
                f"the usage API kept failing (HTTP {status}); the next run will try again.",
                transient=True,
            )
            wait = retry_after_seconds(exc.response.headers)
            return Resolution(Action.RETRY, error, wait, rate_limited=status == 429)
        if status in (401, 403):  # a person must renew or fix the token: no retry helps
            refused: UsageSourceError = UsageCredentialsRejected(
                f"the usage API refused USAGE_API_TOKEN (HTTP {status}); renew or fix it."
            )
        else:
            refused = UsageSourceError(
                f"the usage API refused the request: HTTP {status}. "
                "Check USAGE_API_URL, USAGE_API_TOKEN and usage.http in the mapping."
            )
        return Resolution(Action.STOP_RUN, refused)
    if isinstance(exc, httpx.TransportError):
        return Resolution(
            Action.RETRY,
            UsageSourceError(
                f"cannot reach the usage API ({type(exc).__name__}); check USAGE_API_URL "
                "and the network.",
                transient=True,
            ),
        )
    return None


class HttpUsageSource:
    def __init__(
        self,
        base_url: str,
        token: str,
        paging: Paging,
        shape: RowShape,
        *,
        concurrency: int = 4,
        timeout: float = 30.0,
        verify: ssl.SSLContext | bool = True,
        max_attempts: int = 5,
        stop: threading.Event | None = None,
    ) -> None:
        """`stop`, once set, ends a read at its next page: the run that started it
        stopped for another reason, and the pages after would be wasted."""
        self._stop = threading.Event() if stop is None else stop
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
            verify=verify,
        )
        self._paging, self._shape, self._concurrency = paging, shape, concurrency
        self._policy = RetryPolicy(max_attempts=max_attempts, backoff_seconds=0.2, max_backoff=10)
        self._page_schema = _page_schema(paging, shape)
        self._cursor_schema = _cursor_schema(paging)

    def close(self) -> None:
        self._client.close()

    def describe(self) -> dict[str, object]:
        """What the rows read depend on besides the URL: the paging and the rows' paths."""
        names = ("path", "records", "pagination", "next_cursor", "page_size", "first_page")
        params = ("since_param", "limit_param", "cursor_param", "page_param", "offset_param")
        paging = {name: getattr(self._paging, name) for name in (*names, *params)}
        return {"paging": paging, "paths": self._shape.paths()}

    def weekly_metrics(self, since: date, as_of: date, *, ordered: bool = True) -> UsageBatch:
        """All weeks starting on or after `since` (`as_of`, the run date, is where streams
        read side by side end); a metric no row has comes back as nulls. `ordered=False`:
        streams' rows in the order they came, for a caller that sorts what it merges."""
        spans = self._spans(since, as_of)
        if len(spans) > 1:
            pages = self._streamed_pages(spans)
        elif self._cursor:
            pages = self._cursor_pages(WeekSpan(since, None), threading.Event())
        else:
            pages = list(self._numbered_pages(since))
        batch = combined(pages, self._shape, api_calls=sum(page.pages for page in pages))
        if len(spans) == 1 or not ordered:
            return batch
        # the streams come block of weeks by block; one read's (the contract's) order is
        # tenant, then week — stable, so rows of one tenant and week keep theirs
        return replace(batch, weekly=batch.weekly.sort(KEY, WEEK, maintain_order=True))

    @property
    def _cursor(self) -> bool:
        return self._paging.pagination == "cursor"

    def _spans(self, since: date, as_of: date) -> list[WeekSpan]:
        """One span for one read; with `until`, cursor reads cut into streams of weeks."""
        if not self._cursor or self._paging.until_param is None:
            return [WeekSpan(since, None)]
        return week_spans(since, as_of, self._concurrency)

    def _streamed_pages(self, spans: list[WeekSpan]) -> list[CheckedPage]:
        """Every stream's pages, in the order of the streams, `concurrency` streams at once;
        once one fails the others stop at their next page, and its error is raised."""
        stop = threading.Event()
        with ThreadPoolExecutor(self._concurrency, thread_name_prefix="usage") as pool:
            streams = [pool.submit(copy_context().run, self._stream, span, stop) for span in spans]
        failures = [s.exception() for s in streams]
        failed = next((e for e in failures if e and not isinstance(e, _Stopped)), None)
        if failed is not None:
            raise failed
        return [page for stream in streams for page in stream.result()]

    def _stream(self, span: WeekSpan, stop: threading.Event) -> list[CheckedPage]:
        try:
            return self._cursor_pages(span, stop)
        except BaseException:
            stop.set()
            raise

    def _cursor_pages(self, span: WeekSpan, stop: threading.Event) -> list[CheckedPage]:
        """A cursor's pages in order, checked `CHECK_ROWS` rows at a time. Page n+1 is asked
        for once page n's cursor is read, while page n is parsed (and with the pages before
        it not yet checked, checked) on a thread beside; page n is handed over only once
        page n-1 is parsed, so a page that fails stops the stream at the next one. `stop`
        set (another stream failed), or the source's: stop at the next page."""
        params = self._params(span.since)
        if span.until is not None and self._paging.until_param is not None:
            params[self._paging.until_param] = span.until.isoformat()
        unchecked = _Unchecked(self._shape)  # only the parser thread adds to it
        parsed: list[Future[CheckedPage | None]] = []
        with ThreadPoolExecutor(1, thread_name_prefix="usage-parse") as parser:
            while True:
                content = self._fetch(params)
                cursor = self._next_cursor(content)
                if parsed:
                    parsed[-1].result()  # raises the page's error, if it had one
                parsing = parser.submit(copy_context().run, self._parsed, content, span, unchecked)
                parsed.append(parsing)
                if not cursor:
                    break
                if stop.is_set() or self._stop.is_set():
                    parsed[-1].result()  # this stream's own error before the other's
                    raise _Stopped
                params = {**params, self._paging.cursor_param: cursor}
            parsed.append(parser.submit(unchecked.checked))  # the rows left
        checked = (future.result() for future in parsed)
        return [rows for rows in checked if rows is not None]

    def _next_cursor(self, content: bytes) -> str | None:
        """The cursor alone, read before the rows; an answer polars cannot read it from is
        parsed here whole, for its cursor or its error."""
        try:
            page = pl.read_json(io.BytesIO(content), schema=self._cursor_schema)
        except pl.exceptions.PolarsError:
            page = pl.DataFrame()
        if page.height != 1:
            return _parse_page(content, self._page_schema, self._paging, self._shape)[1]
        cursor: str | None = page.select(
            field_at(pl.struct(pl.all()), self._paging.next_cursor)
        ).item()
        return cursor

    def _parsed(self, content: bytes, span: WeekSpan, unchecked: _Unchecked) -> CheckedPage | None:
        """A cursor page's rows (its weeks checked against `until` first), added to those
        not yet checked: checked with them once they are `CHECK_ROWS`."""
        rows = _parse_page(content, self._page_schema, self._paging, self._shape)[0]
        if span.until is not None:
            _check_until(rows, span, self._paging.until_param)
        return unchecked.add(rows)

    def _numbered_pages(self, since: date) -> Iterator[CheckedPage]:
        """Pages `concurrency` at a time, each window's checked together, until a window
        holds a page short of a full one (every page of that window was asked for, so
        every one is counted)."""
        first = 0
        with ThreadPoolExecutor(self._concurrency) as pool:
            while True:
                window = [self._numbered(since, n) for n in range(first, first + self._concurrency)]
                pages = list(pool.map(self._page, window))
                yield check_page(pl.concat(pages, how="vertical"), self._shape, len(pages)).held()
                if self._last_window([page.height for page in pages]):
                    return
                if self._stop.is_set():
                    raise _Stopped
                first += self._concurrency

    def _last_window(self, heights: list[int]) -> bool:
        """Whether a page came back short; a short page followed by more rows means the
        server gives fewer rows than asked for, and rows would be missed in between."""
        size = self._paging.page_size
        short = next((i for i, height in enumerate(heights) if height < size), None)
        if short is not None and any(heights[short + 1 :]):
            raise UsageSourceError(
                f"the usage API answered {heights[short]} rows to {self._paging.limit_param}="
                f"{size} with more pages after it: set usage.http.page_size to the most "
                "rows it gives per page."
            )
        return short is not None

    def _numbered(self, since: date, n: int) -> dict[str, str]:
        paging = self._paging
        if paging.pagination == "page":
            return {**self._params(since), paging.page_param: str(paging.first_page + n)}
        return {**self._params(since), paging.offset_param: str(n * paging.page_size)}

    def _params(self, since: date) -> dict[str, str]:
        paging = self._paging
        return {paging.since_param: since.isoformat(), paging.limit_param: str(paging.page_size)}

    def _page(self, params: dict[str, str]) -> pl.DataFrame:
        """A numbered page's rows, as text."""
        return _parse_page(self._fetch(params), self._page_schema, self._paging, self._shape)[0]

    def _fetch(self, params: dict[str, str]) -> bytes:
        """A page's answer, retried through the policy."""
        return self._policy.call(functools.partial(self._request_page, params), classify)

    def _request_page(self, params: dict[str, str]) -> bytes:
        response = self._client.get(self._paging.path, params=params)
        response.raise_for_status()
        return response.content


class _Unchecked:
    """A cursor's pages parsed but not yet typed and checked: held as text until they are
    `CHECK_ROWS` rows (a few pages), then checked at once."""

    def __init__(self, shape: RowShape) -> None:
        self._shape = shape
        self._pages: list[pl.DataFrame] = []
        self._rows = 0

    def add(self, rows: pl.DataFrame) -> CheckedPage | None:
        """`rows` added; all of them checked once there are `CHECK_ROWS`, else None."""
        self._pages.append(rows)
        self._rows += rows.height
        return self.checked() if self._rows >= CHECK_ROWS else None

    def checked(self) -> CheckedPage | None:
        """The rows held, typed and checked (None if there are none); none are held after."""
        if not self._pages:
            return None
        pages = len(self._pages)
        page = check_page(pl.concat(self._pages, how="vertical"), self._shape, pages)
        self._pages, self._rows = [], 0
        return page.held()


class _Stopped(Exception):
    """A stream stopped because another one failed, or the run did: their error is the
    run's."""


def _check_until(rows: pl.DataFrame, span: WeekSpan, until_param: str | None) -> None:
    assert span.until is not None
    after = first_week_after(rows, span.until)
    if after is not None:
        raise UntilIgnored(
            f"the usage API ignores {until_param}: asked for the weeks from "
            f"{span.since.isoformat()} to {span.until.isoformat()}, it answered the week of "
            f"{after.isoformat()} too. It does not support the parameter: remove until_param "
            "from usage.http in the mapping (the weeks are then read one page after another). "
            "Nothing was written."
        )


def _page_schema(paging: Paging, shape: RowShape) -> dict[str, pl.DataType]:
    """The answer as polars should read it: the rows' paths as text, and the cursor."""
    tree: dict[str, Any] = {}
    _put(tree, paging.records, pl.List(shape.struct_schema()))
    if paging.pagination == "cursor":
        _put(tree, paging.next_cursor, pl.String())
    return {name: _tree_type(node) for name, node in tree.items()}


def _cursor_schema(paging: Paging) -> dict[str, pl.DataType]:
    """The answer as polars should read it for the next cursor alone."""
    tree: dict[str, Any] = {}
    _put(tree, paging.next_cursor, pl.String())
    return {name: _tree_type(node) for name, node in tree.items()}


def _put(tree: dict[str, Any], path: str, dtype: pl.DataType) -> None:
    *parents, leaf = path.split(".")
    for name in parents:
        tree = tree.setdefault(name, {})
    tree[leaf] = dtype


def _tree_type(node: Any) -> pl.DataType:
    if isinstance(node, dict):
        return pl.Struct({name: _tree_type(child) for name, child in node.items()})
    return node  # type: ignore[no-any-return]


def _parse_page(
    content: bytes, schema: dict[str, pl.DataType], paging: Paging, shape: RowShape
) -> tuple[pl.DataFrame, str | None]:
    """The page's rows (one text column per path) and the next cursor."""
    try:
        page = pl.read_json(io.BytesIO(content), schema=schema)
    except pl.exceptions.PolarsError:
        return _parse_page_row_by_row(content, paging, shape)
    if page.height != 1:
        return _parse_page_row_by_row(content, paging, shape)
    cursor = (
        page.select(field_at(pl.struct(pl.all()), paging.next_cursor)).item()
        if (paging.pagination == "cursor")
        else None
    )
    rows = page.select(field_at(pl.struct(pl.all()), paging.records).alias(_ROW))
    if rows[_ROW][0] is None:
        return _parse_page_row_by_row(content, paging, shape)  # to say what it has instead
    return _columns(rows.explode(_ROW).drop_nulls(_ROW), shape), cursor


def _parse_page_row_by_row(
    content: bytes, paging: Paging, shape: RowShape
) -> tuple[pl.DataFrame, str | None]:
    """A page polars would not read whole: each row back to JSON text, its values found by
    JSONPath in polars, so a row of the wrong shape is counted as skipped, not fatal."""
    try:
        body = json.loads(content)
    except ValueError as exc:
        raise UsageSourceError(f"the usage API did not answer with JSON: {exc}") from None
    if not isinstance(body, dict):
        raise UsageSourceError("the usage API answered with something other than an object.")
    rows, cursor = _at(body, paging.records), _at(body, paging.next_cursor)
    if not isinstance(rows, list):
        raise UsageQualityError(
            [
                f"the usage API answered without a list of rows at '{paging.records}' (its "
                f"answer has {', '.join(repr(k) for k in body) or 'nothing'}): set "
                "usage.http.records in the mapping to where the rows are."
            ]
        )
    text = pl.DataFrame({_ROW: [json.dumps(row) for row in rows]}, schema={_ROW: pl.String})
    is_object = pl.col(_ROW).str.starts_with("{")
    frame = text.select(
        pl.when(is_object).then(pl.col(_ROW).str.json_path_match(f"$.{path}")).alias(name)
        for name, path in shape.paths().items()
    )
    next_cursor = None if cursor is None or paging.pagination != "cursor" else str(cursor)
    return frame, next_cursor


def _at(body: dict[str, Any], path: str) -> Any:
    value: Any = body
    for name in path.split("."):
        value = value.get(name) if isinstance(value, dict) else None
    return value


def _columns(rows: pl.DataFrame, shape: RowShape) -> pl.DataFrame:
    return rows.select(
        field_at(pl.col(_ROW), path).alias(name) for name, path in shape.paths().items()
    )
