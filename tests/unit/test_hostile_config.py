"""Whatever `validate` accepts cannot crash a run, and what would crash one fails `validate`.

One table: each row is a mistaken or hostile piece of configuration (each once made the run
die with a polars or Jinja traceback, hang `validate`, or crash the process). Each must make
`validate --offline` exit 2 within seconds, at the right `file:line`, with a sentence, and
never with a traceback. Then: what only a run's data can break skips that rule or that
action for that account, says where, and the rest of the run goes on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import FrameType

import polars as pl
import pytest
from rich.console import Console
from typer.testing import CliRunner

from connector.cli import EXIT_CONFIG, app
from connector.cli.output import print_plan
from connector.config.load import Config, load_config
from connector.config.playbook import PlaybookFile, Rule
from connector.config.validation import parse_document
from connector.config.yaml_lines import load_yaml
from connector.engine.columns import column_types, typed_frame
from connector.engine.evaluate import current_result_columns, evaluate
from connector.engine.expressions import compile_sql
from connector.engine.rules import RuleSources, Skipped
from connector.errors import EvaluationFailed, ExpressionError
from connector.frame import frame_columns
from connector.plan.actions import plan_actions
from connector.plan.model import Plan
from tests.lines import line_of

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 10  # generous: each case takes well under a second; a hang fails instead of waiting
HOSTILE_FILE = "playbooks/zz_hostile.yaml"
AS_OF = date(2026, 11, 23)


@dataclass(frozen=True)
class Hostile:
    file: str  # under the project
    text: str  # the whole file (a new one, or one that replaces a shipped file)
    says: str  # a part of the sentence the admin reads
    at: str  # the text on the reported line
    isolated: bool = False  # run in its own process: a regression would crash or hang polars


def _rule(when: str = "arr > 0", subject: str = "Call {{ name }}", description: str = "") -> str:
    """A playbook file with one rule, to hold one hostile expression or template."""
    text = (
        "rules:\n"
        "  - id: hostile\n"
        "    description: a mistake\n"
        f'    when: "{when}"\n'
        "    actions:\n"
        "      - create_task:\n"
        f'          subject: "{subject}"\n'
    )
    if description:
        text += "          description: |\n" + "".join(
            f"            {line}\n" for line in description.splitlines()
        )
    return text


def _action_when(when: str) -> str:
    return (
        "rules:\n"
        "  - id: hostile\n"
        "    description: a mistake\n"
        "    when: arr > 0\n"
        "    actions:\n"
        f"      - when: {when}\n"
        "        post_to_slack: {text: '{{ name }}'}\n"
    )


def _email(text: str) -> str:
    return f'en:\n  subject: "Hello"\n  text: "{text}"\n'


def _or_chain(terms: int) -> str:
    return " OR ".join(f"arr = {i}" for i in range(terms))


def _alias_bomb() -> str:
    """Billion laughs: nine levels of nine aliases each, 9**9 values from a few lines."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    return "\n".join(lines) + "\nrules: []\n"


HOSTILE = {
    # --- expressions polars refuses on the table's types ---------------------------------
    "text column compared with a number": Hostile(
        HOSTILE_FILE,
        _rule(when="name > 5"),
        "cannot compare text column 'name' with a number in 'name > 5' (polars: ",
        "name > 5",
    ),
    "date column compared with a number": Hostile(
        HOSTILE_FILE,
        _rule(when="renewal_date > 5"),
        "'renewal_date > 5' compares the date 'renewal_date' with a number. Compare it with "
        "a date (DATE '2027-03-01', run_date + INTERVAL '90 days')",
        "renewal_date > 5",
    ),
    "a time span compared with a number": Hostile(
        HOSTILE_FILE,
        _rule(when="arr > 0 AND renewal_date - run_date < 30"),
        "compares a time span (one date minus another) with a number. Compare it with "
        "INTERVAL '30 days'",
        "renewal_date - run_date < 30",
    ),
    "date column plus a number of days": Hostile(
        HOSTILE_FILE,
        _rule(when="renewal_date + 90 > run_date"),
        "renewal_date",
        "renewal_date + 90",
    ),
    "date column compared with text": Hostile(
        HOSTILE_FILE,
        _rule(when="renewal_date = 'soon'"),
        "renewal_date",
        "renewal_date = 'soon'",
    ),
    "number column compared with a date": Hostile(
        HOSTILE_FILE,
        _rule(when="arr > DATE '2026-01-01'"),
        "compares the date expression with a number",
        "arr > DATE",
    ),
    "invalid regex with ~": Hostile(
        HOSTILE_FILE,
        _rule(when="name ~ '('"),
        "has an invalid regular expression (polars: regex error",
        "name ~ '('",
    ),
    "invalid regex with REGEXP_LIKE": Hostile(
        HOSTILE_FILE,
        _rule(when="REGEXP_LIKE(name, '(')"),
        "has an invalid regular expression",
        "REGEXP_LIKE",
    ),
    "CAST of a text column to a number": Hostile(
        HOSTILE_FILE,
        _rule(when="CAST(name AS INT) > 1"),
        "uses CAST on the text column 'name', which stops the rule as soon as one account's "
        "name is not a whole number. Use TRY_CAST(name AS ...)",
        "CAST(name AS INT)",
    ),
    "a rule's when that is a number": Hostile(
        HOSTILE_FILE,
        _rule(when="arr + 1"),
        "'arr + 1' is a number, but a rule's when must be true or false.",
        "arr + 1",
    ),
    "an action's when that is text": Hostile(
        HOSTILE_FILE,
        _action_when("name"),
        "'name' is text, but an action's when must be true or false.",
        "- when: name",
    ),
    "a subquery": Hostile(
        HOSTILE_FILE,
        _rule(when="arr IN (SELECT 1)"),
        "contains a subquery (SELECT ...); an expression can only use the account's own columns",
        "SELECT",
    ),
    "a subquery from a table": Hostile(
        HOSTILE_FILE,
        _rule(when="EXISTS (SELECT 1 FROM accounts)"),
        "contains a subquery",
        "EXISTS",
    ),
    # --- expressions too large to evaluate quickly (47 s; a segmentation fault) --------------
    "a 3,000-term OR chain": Hostile(
        HOSTILE_FILE,
        _rule(when=_or_chain(3_000)),
        "characters long; an expression may have at most 2,000",
        "arr = 0 OR",
        isolated=True,
    ),
    "a 20,000-term OR chain": Hostile(
        HOSTILE_FILE,
        _rule(when=_or_chain(20_000)),
        "characters long; an expression may have at most 2,000",
        "arr = 0 OR",
        isolated=True,
    ),
    "an expression naming columns 60 times": Hostile(
        HOSTILE_FILE,
        _rule(when=" OR ".join(["arr > 1"] * 60)),
        "names columns 60 times; an expression may name at most 50",
        "arr > 1 OR",
    ),
    # --- templates: sandbox escapes ----------------------------------------------------------
    "sandbox escape through ''.__class__.__mro__": Hostile(
        HOSTILE_FILE,
        _rule(subject="{{ ''.__class__.__mro__ }}"),
        "the template reaches for something the sandbox forbids (access to attribute "
        "'__class__' of 'str' object is unsafe); a template can only show the account's columns.",
        "__mro__",
    ),
    "sandbox escape through cycler.__init__.__globals__": Hostile(
        HOSTILE_FILE,
        _rule(subject="{{ cycler.__init__.__globals__ }}"),
        "the sandbox forbids (access to attribute '__init__'",
        "cycler",
    ),
    "sandbox escape through lipsum.__globals__": Hostile(
        HOSTILE_FILE,
        _rule(subject="{{ lipsum.__globals__ }}"),
        "the template uses an unknown column 'lipsum'",
        "lipsum",
    ),
    "an unknown filter": Hostile(
        HOSTILE_FILE,
        _rule(subject="Renewal {{ arr | yen }}"),
        "the template uses an unknown filter 'yen'. Filters: abs,",
        "yen",
    ),
    "a misspelt filter": Hostile(
        HOSTILE_FILE,
        _rule(description="ARR {{ arr | numbr }}"),
        "unknown filter 'numbr' (did you mean 'number'?)",
        "numbr",
    ),
    "an unknown test": Hostile(
        HOSTILE_FILE,
        _rule(subject="{% if arr is yen %}x{% endif %}"),
        "the template uses an unknown test 'yen'",
        "is yen",
    ),
    "sandbox escape through the attr filter": Hostile(
        HOSTILE_FILE,
        _rule(subject="{{ name|attr('__class__') }}"),
        "the sandbox forbids (access to attribute '__class__'",
        "attr(",
    ),
    "a dunder call": Hostile(
        HOSTILE_FILE,
        _rule(subject="{{ name.__len__() }}"),
        "the sandbox forbids (access to attribute '__len__'",
        "__len__",
    ),
    "a dunder call in an email": Hostile(
        "playbooks/templates/zz_hostile.yaml",
        _email("Hi {{ contact_name.__class__.__subclasses__() }}"),
        "the sandbox forbids (access to attribute '__class__'",
        "__subclasses__",
    ),
    # --- templates: work and size without end ----------------------------------------------
    "range(10**9)|list": Hostile(
        HOSTILE_FILE,
        _rule(subject="{{ range(10**9)|list }}"),
        "the template was stopped: range() of 1,000,000,000 numbers; a template may use at "
        "most 10,000.",
        "range(",
    ),
    "a 200-MB string": Hostile(
        HOSTILE_FILE,
        _rule(subject="{{ 'x' * 200000000 }}"),
        "the template was stopped: the repeated text would be 200,000,000 characters long; a "
        "template's text may be at most 10,000.",
        "200000000",
    ),
    "a power with a huge exponent": Hostile(
        HOSTILE_FILE,
        _rule(subject="{{ 9 ** (9 ** 9) }}"),
        "9 ** 387420489 is too large a number for a template to compute",
        "9 ** (9 ** 9)",
    ),
    "text doubled with ~ until it fills memory": Hostile(
        HOSTILE_FILE,
        _rule(subject="{% set a = 'xxxxxxxxxx' %}" + "{% set a = a ~ a %}" * 60 + "{{ a }}"),
        "the joined text would be 10,240 characters long",
        "set a = a ~ a",
    ),
    "loops nested a billion steps deep": Hostile(
        HOSTILE_FILE,
        _rule(
            description="{% for a in range(1000) %}{% for b in range(1000) %}"
            "{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}"
        ),
        "the template takes more than 10,000 loop steps and calls",
        "{% for a in range(1000) %}",  # the first line of the block, not its key
    ),
    "a task longer than 10,000 characters": Hostile(
        HOSTILE_FILE,
        _rule(description="{{ 'x' * 9000 }}\n{{ 'y' * 9000 }}"),
        "the template writes more than 10,000 characters, the most its text may have.",
        "description: |",
    ),
    "an undefined attribute, on the third line of a description": Hostile(
        HOSTILE_FILE,
        _rule(description="Hello {{ name }},\nyour ARR is {{ arr | number }}.\n{{ name.nope }}"),
        "the template uses something that does not exist: 'str object' has no attribute 'nope'",
        "{{ name.nope }}",
    ),
    # --- YAML ---------------------------------------------------------------------------------
    "a YAML alias bomb (billion laughs)": Hostile(
        HOSTILE_FILE,
        _alias_bomb(),
        "YAML anchors and aliases (&name, *name, <<:) are not accepted in CS Connector files",
        "a0: &a0",
    ),
    "a YAML merge key": Hostile(
        HOSTILE_FILE,
        "defaults: &defaults {cooldown_days: 7}\nrules:\n  - <<: *defaults\n    id: x\n",
        "YAML anchors and aliases",
        "defaults: &defaults",
    ),
    "a list nested 3,000 deep": Hostile(
        HOSTILE_FILE,
        "rules: " + "[" * 3_000 + "]" * 3_000 + "\n",
        "this value is nested more than 50 levels deep",
        "rules: [[[",
    ),
}


def _env(project: Path) -> dict[str, str]:
    return {
        "CRM": "salesforce",
        "MAPPINGS_DIR": str(project / "mappings"),
        "PLAYBOOKS_DIR": str(project / "playbooks"),
        "STATE_DATABASE_URL": f"sqlite:///{project / 'state.db'}",
    }


@contextmanager
def _within(seconds: int) -> Iterator[None]:
    """Fail instead of hanging: SIGALRM interrupts whatever Python is doing after `seconds`."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"validate took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _validate(project: Path, *, isolated: bool) -> tuple[int, str]:
    """`validate --offline` through the CLI: in this process under an alarm, or in a process
    of its own (a crash in polars' native code would otherwise take the test run with it)."""
    if not isolated:
        with _within(SECONDS):
            result = CliRunner().invoke(app, ["validate", "--offline"], env=_env(project))
        return result.exit_code, result.output
    script = (
        "import sys; from typer.testing import CliRunner; from connector.cli import app; "
        "r = CliRunner().invoke(app, ['validate', '--offline']); "
        "print(r.output, end=''); sys.exit(r.exit_code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, **_env(project)},
        cwd=project,
        capture_output=True,
        text=True,
        timeout=SECONDS * 3,  # a fresh interpreter imports polars first
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("hostile", HOSTILE.values(), ids=HOSTILE.keys())
def test_validate_refuses_it_at_its_line_with_a_sentence(project: Path, hostile: Hostile) -> None:
    path = project / hostile.file
    path.write_text(hostile.text)

    code, output = _validate(project, isolated=hostile.isolated)

    assert code == EXIT_CONFIG, output
    assert output.startswith("Configuration error — nothing was written.\n"), output
    assert f"{path}:{line_of(path, hostile.at)}: " in output, output
    assert hostile.says in output, output
    assert "Traceback" not in output
    assert "unexpected error" not in output


def test_a_multi_line_template_is_reported_at_the_line_that_fails(project: Path) -> None:
    """The line inside a block scalar, not the line of its key."""
    hostile = HOSTILE["an undefined attribute, on the third line of a description"]
    path = project / hostile.file
    path.write_text(hostile.text)
    code, output = _validate(project, isolated=False)
    assert code == EXIT_CONFIG
    assert f"{path}:{line_of(path, '{{ name.nope }}')}: " in output
    assert line_of(path, "{{ name.nope }}") == line_of(path, "description: |") + 3


def test_an_account_field_named_like_a_computed_column_is_refused(project: Path) -> None:
    """The table cannot be built (nor typed) with two columns of one name."""
    mapping = project / "mappings" / "salesforce.yaml"
    text = mapping.read_text()
    assert "    industry: Industry\n" in text
    mapping.write_text(
        text.replace("    industry: Industry\n", "    industry: Industry\n    logins: Logins__c\n")
    )
    code, output = _validate(project, isolated=False)
    assert code == EXIT_CONFIG, output
    assert (
        f"{mapping}:{line_of(mapping, 'logins: Logins__c')}: 'logins' would be two columns of "
        "the account table; give the account field another name (e.g. crm_logins)."
    ) in output


def test_the_shipped_configuration_still_validates_quickly(project: Path) -> None:
    code, output = _validate(project, isolated=False)
    assert code == 0, output


# --- At run time: what only the data can break is skipped and reported --------------------

RULE_FILE = """\
rules:
  - id: renewal
    description: d
    when: "true"
    period: renewal_date
    actions:
      - create_task:
          subject: "Renew {{ name }}"
          description: |
            ARR {{ arr | number }}
            Per seat: {{ arr / seats }}
      - post_to_slack: {text: "{{ name }} renews"}
"""


def _located_rule(tmp_path: Path) -> tuple[Path, Rule, RuleSources]:
    path = tmp_path / "rules.yaml"
    path.write_text(RULE_FILE)
    doc = load_yaml(path)
    (rule,) = parse_document(doc, PlaybookFile).rules
    return path, rule, RuleSources({rule.id: (doc, 0)})


def test_a_template_that_fails_for_one_account_skips_only_that_action(tmp_path: Path) -> None:
    path, rule, sources = _located_rule(tmp_path)
    table = pl.DataFrame(
        {
            "id": ["a", "b"],
            "name": ["Acme", "Beta"],
            "owner_id": ["u1", "u2"],
            "arr": [12000.0, 5000.0],
            "seats": [10, 0],  # Beta: division by zero, a value validate could not see
        }
    )
    firings = pl.DataFrame(
        {"rule_id": ["renewal"] * 2, "account_id": ["a", "b"], "period": ["p1", "p2"]}
    )

    plan = plan_actions(
        table,
        firings,
        [rule],
        {},
        [],
        as_of=AS_OF,
        assign_to="owner_id",
        status="Not Started",
        sources=sources,
    )

    assert [t.account_name for t in plan.tasks] == ["Acme"]
    assert [m.text for m in plan.slack] == ["Acme renews", "Beta renews"]  # the rest went on
    (skipped,) = plan.skipped
    assert (skipped.rule_id, skipped.account_name) == ("renewal", "Beta")
    assert skipped.where == f"{path}:{line_of(path, 'Per seat:')}"
    assert "the template fails: ZeroDivisionError" in skipped.reason


def test_an_action_condition_that_fails_on_the_data_skips_that_action(tmp_path: Path) -> None:
    _, rule, sources = _located_rule(tmp_path)
    rule = rule.model_copy(
        update={
            "actions": [
                rule.actions[0].model_copy(update={"when": "code > 1"}),
                rule.actions[1],
            ]
        }
    )
    table = pl.DataFrame(
        {
            "id": ["a"],
            "name": ["Acme"],
            "owner_id": ["u"],
            "arr": [1.0],
            "seats": [1],
            "code": ["x"],
        }
    )
    firings = pl.DataFrame({"rule_id": ["renewal"], "account_id": ["a"], "period": ["p"]})

    plan = plan_actions(
        table,
        firings,
        [rule],
        {},
        [],
        as_of=AS_OF,
        assign_to="owner_id",
        status="s",
        sources=sources,
    )

    assert plan.tasks == []
    assert [m.text for m in plan.slack] == ["Acme renews"]
    (skipped,) = plan.skipped
    assert skipped.account_name is None
    assert "cannot compare text column 'code' with a number" in skipped.reason


def _project_with(project: Path, rules: str) -> Path:
    path = project / HOSTILE_FILE
    path.write_text(rules)
    return path


def _table(project: Path) -> tuple[pl.DataFrame, Config]:
    """One account with the frame's columns, typed as in a run, named Acme."""
    config = load_config(project / "mappings", project / "playbooks", "salesforce")
    types = column_types(config)
    frame = typed_frame({name: types[name] for name in frame_columns(config.mapping)})
    current = current_result_columns(config.mapping.results).values()
    table = frame.with_columns(
        id=pl.lit("a1"),
        name=pl.lit("Acme"),
        **{column: pl.lit(None) for column in current},
    )
    return table, config


def test_a_rule_that_fails_on_the_data_is_left_out_and_the_others_fire(project: Path) -> None:
    path = _project_with(
        project,
        "rules:\n"
        "  - id: breaks\n"
        "    description: fine on the sample, not on Acme\n"
        "    when: CAST(SUBSTR(name, 2) AS INTEGER) > 1\n"
        "    actions: [{create_task: {subject: x}}]\n"
        "  - id: fires\n"
        "    description: fine\n"
        "    when: name = 'Acme'\n"
        "    actions: [{create_task: {subject: x}}]\n",
    )
    table, config = _table(project)

    evaluation = evaluate(table, config, as_of=AS_OF)

    fired = set(evaluation.firings["rule_id"])
    assert "fires" in fired
    assert "breaks" not in fired
    (skipped,) = evaluation.skipped
    assert skipped.rule_id == "breaks"
    assert skipped.where == f"{path}:{line_of(path, 'CAST(SUBSTR(name, 2)')}"
    assert "TRY_CAST" in skipped.reason


def test_a_health_measure_that_fails_on_the_data_stops_the_run_with_a_sentence(
    project: Path,
) -> None:
    health = project / "playbooks" / "health.yaml"
    health.write_text(
        health.read_text().replace(
            "expr: scouts_sent\n", "expr: CAST(SUBSTR(name, 2) AS DOUBLE)\n", 1
        )
    )
    table, config = _table(project)

    with pytest.raises(
        EvaluationFailed, match=r"the 'health:' section of .*health\.yaml cannot be"
    ):
        evaluate(table, config, as_of=AS_OF)


def test_the_plan_prints_what_was_skipped_even_when_it_looks_like_markup() -> None:
    plan = Plan(
        skipped=(
            Skipped("renewal", "playbooks/rules.yaml:12", "the template fails: [/x] oops", "Acme"),
            Skipped("health-drop", "playbooks/rules.yaml:40", "the rule was left out", None),
        )
    )
    console = Console(record=True, width=200)

    print_plan(console, plan, dry_run=True)

    text = console.export_text()
    assert (
        "skipped rule 'renewal' for Acme — playbooks/rules.yaml:12: the template fails: [/x] oops"
        in text
    )
    assert "skipped rule 'health-drop' for every account — playbooks/rules.yaml:40" in text


def test_the_types_validate_assumes_are_the_types_a_run_computes(project: Path) -> None:
    """Frame columns are typed by building the frame; the engine's own columns are declared
    in `connector.engine.columns`, so they are compared with what evaluation makes here."""
    table, config = _table(project)
    evaluated = evaluate(table, config, as_of=AS_OF).table.schema
    assumed = column_types(config)
    mapped = set(config.mapping.account.fields)
    assert {name: evaluated[name] for name in assumed if name not in mapped} == {
        name: dtype for name, dtype in assumed.items() if name not in mapped
    }


@pytest.mark.parametrize(
    ("sql", "accepted"),
    [
        pytest.param(" OR ".join(["arr > 1"] * 50), True, id="50 column references"),
        pytest.param(" OR ".join(["arr > 1"] * 51), False, id="51 column references"),
        pytest.param("arr IN (" + ", ".join(map(str, range(300))) + ")", True, id="a long IN"),
        pytest.param("name = '" + "x" * 1_991 + "'", True, id="2,000 characters"),
        pytest.param("name = '" + "x" * 1_992 + "'", False, id="2,001 characters"),
    ],
)
def test_expressions_have_a_length_and_a_size_limit(sql: str, accepted: bool) -> None:
    if accepted:
        compile_sql(sql, ["arr", "name"])
    else:
        with pytest.raises(ExpressionError, match="at most"):
            compile_sql(sql, ["arr", "name"])
