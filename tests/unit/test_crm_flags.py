"""A CRM's yes/no values read one way, by a row and by a frame."""

from __future__ import annotations

import polars as pl
import pytest

from connector.frame.flags import crm_flag, flag_expr, with_contact_flags

READINGS: list[tuple[object, bool | None]] = [  # None: the flag's unknown reading
    (True, True),
    (False, False),
    (None, False),
    ("", False),
    ("true", True),
    ("True", True),
    ("TRUE", True),
    (" yes ", True),
    ("1", True),
    ("false", False),
    ("False", False),
    ("FALSE", False),
    ("No", False),
    ("0", False),
    ("unknown", None),
    ("2", None),
    (1, True),
    (0, False),
    (2, None),
]


@pytest.mark.parametrize(("value", "reading"), READINGS)
@pytest.mark.parametrize("unknown", [False, True])
def test_a_row_and_a_frame_read_a_value_alike(
    value: object, reading: bool | None, unknown: bool
) -> None:
    expected = unknown if reading is None else reading
    column = pl.DataFrame({"flag": [value]})  # typed as polars infers it: bool, text, number
    in_frame = column.select(flag_expr(column.schema, "flag", unknown=unknown)).item()

    assert crm_flag(value, unknown=unknown) is expected
    assert in_frame is expected


def test_contacts_are_typed_as_read_an_unknown_opt_out_as_opted_out() -> None:
    contacts = pl.DataFrame(
        {
            "id": ["a", "b", "c"],
            "primary": ["false", "TRUE", "maybe"],
            "opted_out": ["false", "no", "maybe"],
        }
    )

    typed = with_contact_flags(contacts)

    assert typed.schema["primary"] == typed.schema["opted_out"] == pl.Boolean
    assert typed["primary"].to_list() == [False, True, False]
    assert typed["opted_out"].to_list() == [False, False, True]
    assert with_contact_flags(contacts.drop("primary", "opted_out")).equals(
        contacts.drop("primary", "opted_out")
    )
