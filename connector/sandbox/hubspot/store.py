"""The portal's data: property schemas, records, owners and associations, with the id
counters, as plain values the operations read and write. Not thread-safe on its own:
`HubSpotPortal` serialises access."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.sandbox.hubspot.object_types import OBJECT_TYPES
from connector.sandbox.hubspot.properties import PropertySpec, iso_millis

FIRST_RECORD_ID = 10_001  # one counter for every type, so ids of different types never clash
FIRST_OWNER_ID = 70_000_001
FIRST_USER_ID = 9_000_001


@dataclass
class Record:
    id: str
    object_type: str
    values: dict[str, str]  # set values only; the standard three are derived
    created_at: datetime
    updated_at: datetime
    # What search sees: (time the state was written, properties then), oldest first.
    versions: list[tuple[datetime, dict[str, str]]] = field(default_factory=list)
    # Properties that held a value and were cleared: HubSpot returns them as "" (one never
    # set comes back null); search and the rest of the portal see no value.
    cleared: set[str] = field(default_factory=set)
    archived_at: datetime | None = None  # when it went to the recycle bin

    def touch(self, lag_seconds: float, now: datetime) -> None:
        """A change HubSpot makes to the record itself (a rollup recounted): it moves
        hs_lastmodifieddate and is indexed like any write."""
        self.updated_at = now
        self.index(lag_seconds, now)

    def properties(self) -> dict[str, str]:
        """Every set value, the always-present standard three included."""
        return {
            **self.values,
            "hs_object_id": self.id,
            "createdate": iso_millis(self.created_at),
            "hs_lastmodifieddate": iso_millis(self.updated_at),
        }

    def index(self, lag_seconds: float, now: datetime) -> None:
        """Hand the current state to the search index; with no lag only it is kept."""
        snapshot = (now, self.properties())
        if lag_seconds <= 0:
            self.versions = [snapshot]
            return
        visible = [v for v in self.versions if (now - v[0]).total_seconds() >= lag_seconds]
        self.versions = [*visible[-1:], *(v for v in self.versions if v not in visible), snapshot]

    def searchable(self, lag_seconds: float, now: datetime) -> dict[str, str] | None:
        """The state search sees `lag_seconds` after each write, None before the first."""
        seen = None
        for written, values in self.versions:
            if lag_seconds <= 0 or (now - written).total_seconds() >= lag_seconds:
                seen = values
        return seen


@dataclass
class Owner:
    id: str
    email: str
    first_name: str
    last_name: str
    user_id: int
    created_at: datetime
    updated_at: datetime
    archived: bool = False
    team: str | None = "Customer Success"

    def to_json(self) -> dict[str, Any]:
        teams = [] if self.team is None else [{"id": "1001", "name": self.team, "primary": True}]
        return {
            "id": self.id,
            "email": self.email,
            "type": "PERSON",
            "firstName": self.first_name,
            "lastName": self.last_name,
            "userId": self.user_id,
            "userIdIncludingInactive": self.user_id,
            "createdAt": iso_millis(self.created_at),
            "updatedAt": iso_millis(self.updated_at),
            "archived": self.archived,
            "teams": teams,
        }


class CrmStore:
    def __init__(
        self, schema: Mapping[str, Sequence[PropertySpec]], clock: Callable[[], datetime]
    ) -> None:
        self.clock = clock
        self.schema = {name: {s.name: s for s in schema.get(name, ())} for name in OBJECT_TYPES}
        # in id order (ids only grow and a record is never put back), as search reads them
        self.records: dict[str, dict[str, Record]] = {name: {} for name in OBJECT_TYPES}
        self.archived: dict[str, dict[str, Record]] = {name: {} for name in OBJECT_TYPES}
        self.owners: dict[str, Owner] = {}
        self.links: dict[tuple[str, str], set[tuple[str, str]]] = {}
        self.next_id = FIRST_RECORD_ID
        self.next_owner_id = FIRST_OWNER_ID
        self._in_order: dict[str, tuple[list[int], list[Record]]] = {}  # see `page`

    def new_record(self, object_type: str, values: dict[str, str], lag_seconds: float) -> Record:
        now = self.clock()
        record = Record(str(self.next_id), object_type, values, now, now)
        self.next_id += 1
        record.index(lag_seconds, now)
        self.records[object_type][record.id] = record
        self._in_order.pop(object_type, None)
        return record

    def remove(self, object_type: str, record_id: str) -> Record:
        """A live record taken out (archived or merged away)."""
        self._in_order.pop(object_type, None)
        return self.records[object_type].pop(record_id)

    def page(self, object_type: str, first_id: int, limit: int) -> tuple[list[Record], str | None]:
        """Up to `limit` live records from `first_id` on, in id order, and the id of the one
        after them (the next page's cursor). The type's ids are kept in order between
        changes to it: a read of 200,000 meetings took each page's place by listing them
        all again (~25 ms a page, a fifth of what the portal did for a run)."""
        ids, table = self._ordered(object_type)
        start = bisect.bisect_left(ids, first_id)
        end = start + limit
        return table[start:end], table[end].id if end < len(table) else None

    def _ordered(self, object_type: str) -> tuple[list[int], list[Record]]:
        ordered = self._in_order.get(object_type)
        if ordered is None:
            table = sorted_records(self.records[object_type].values())
            ordered = self._in_order[object_type] = ([int(r.id) for r in table], table)
        return ordered

    def add_owner(self, email: str, first_name: str, last_name: str, archived: bool) -> Owner:
        now = self.clock()
        number = self.next_owner_id
        self.next_owner_id += 1
        owner = Owner(
            str(number),
            email,
            first_name,
            last_name,
            number - FIRST_OWNER_ID + FIRST_USER_ID,
            now,
            now,
            archived,
        )
        self.owners[owner.id] = owner
        return owner

    def active_owner_ids(self) -> set[str]:
        return {owner.id for owner in self.owners.values() if not owner.archived}

    def link(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        """Associations are visible from both ends, as in HubSpot."""
        self.links.setdefault((from_type, from_id), set()).add((to_type, to_id))
        self.links.setdefault((to_type, to_id), set()).add((from_type, from_id))

    def unlink(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        self.links.get((from_type, from_id), set()).discard((to_type, to_id))
        self.links.get((to_type, to_id), set()).discard((from_type, from_id))

    def archive(self, object_type: str, record_id: str, now: datetime) -> list[tuple[str, str]]:
        """Move a record to the recycle bin, its associations removed; returns the records
        it was associated with."""
        record = self.remove(object_type, record_id)
        record.archived_at = now
        self.archived[object_type][record_id] = record
        linked = sorted(self.links.pop((object_type, record_id), set()))
        for to_type, to_id in linked:
            self.links.get((to_type, to_id), set()).discard((object_type, record_id))
        return linked

    def linked(self, object_type: str, record_id: str, to_type: str) -> list[str]:
        ids = (i for t, i in self.links.get((object_type, record_id), ()) if t == to_type)
        return sorted(ids, key=int)

    # -- persistence -----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": {
                t: [s.to_state() for s in specs.values()] for t, specs in self.schema.items()
            },
            "records": [
                {
                    "id": r.id,
                    "type": r.object_type,
                    "values": r.values,
                    "createdAt": r.created_at.isoformat(),
                    "updatedAt": r.updated_at.isoformat(),
                    "cleared": sorted(r.cleared),
                    "archivedAt": None if r.archived_at is None else r.archived_at.isoformat(),
                }
                for tables in (self.records, self.archived)
                for table in tables.values()
                for r in table.values()
            ],
            "owners": [
                {
                    **o.__dict__,
                    "created_at": o.created_at.isoformat(),
                    "updated_at": o.updated_at.isoformat(),
                }
                for o in self.owners.values()
            ],
            "links": sorted(
                [a[0], a[1], b[0], b[1]] for a, targets in self.links.items() for b in targets
            ),
            "next_id": self.next_id,
            "next_owner_id": self.next_owner_id,
        }

    def load_json(self, state: Mapping[str, Any]) -> None:
        self.schema = {
            t: {s["name"]: PropertySpec.from_state(s) for s in specs}
            for t, specs in state["schema"].items()
        }
        for raw in state["records"]:
            created = datetime.fromisoformat(raw["createdAt"])
            updated = datetime.fromisoformat(raw["updatedAt"])
            record = Record(raw["id"], raw["type"], dict(raw["values"]), created, updated)
            record.cleared = set(raw.get("cleared", ()))
            record.index(0, updated)
            if raw.get("archivedAt"):
                record.archived_at = datetime.fromisoformat(raw["archivedAt"])
                self.archived[record.object_type][record.id] = record
            else:
                self.records[record.object_type][record.id] = record
        for raw in state["owners"]:
            owner = Owner(
                **{
                    **raw,
                    "created_at": datetime.fromisoformat(raw["created_at"]),
                    "updated_at": datetime.fromisoformat(raw["updated_at"]),
                }
            )
            self.owners[owner.id] = owner
        for from_type, from_id, to_type, to_id in state["links"]:
            self.link(from_type, from_id, to_type, to_id)
        self.next_id = state["next_id"]
        self.next_owner_id = state["next_owner_id"]
        self._in_order.clear()


def sorted_records(records: Iterable[Record]) -> list[Record]:
    return sorted(records, key=lambda r: int(r.id))
