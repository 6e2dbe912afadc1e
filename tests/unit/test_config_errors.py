"""Bad configuration fails with `file:line` and a sentence that says what to do.

One table: each row is a mistake a RevOps admin makes in one file, where it must be
reported, and what the sentence must say. Then: mistakes in several files, one report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.checks import check_config
from connector.cli import EXIT_CONFIG, app
from connector.config.load import load_config
from connector.errors import ConfigError, ConfigProblem
from tests.lines import line_of

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Mistake:
    file: str  # under the project: mappings/salesforce.yaml, playbooks/rules.yaml, ...
    edits: tuple[tuple[str, str], ...]  # (old, new), each applied once
    says: str  # a part of the sentence the admin reads
    at: str | None  # the text on the reported line; None: the file, without a line
    problems: int = 1  # a misspelt key is also a missing one

    def make(self, project: Path) -> Path:
        path = project / self.file
        for old, new in self.edits:
            text = path.read_text()
            assert old in text, f"fixture text {old!r} not found in {path}"
            path.write_text(text.replace(old, new, 1))
        return path


def _weights(new: int) -> tuple[tuple[str, str], ...]:
    """Each of the four groups' weights, in turn."""
    return ((", weight: 1}", f", weight: {new}}}"),) * 4


MISTAKES = {
    "a regression from a stage that is not one": Mistake(
        "playbooks/segments.yaml",
        (("    - from: [Value, Advocacy]", "    - from: [Valeu, Advocacy]"),),
        "'Valeu' is not a stage (did you mean 'Value'?); 'from' must name a stage of the "
        "journey: Onboarding, Adoption, Value, Advocacy.",
        "from: [Valeu, Advocacy]",
    ),
    "a regression that leads forward": Mistake(
        "playbooks/segments.yaml",
        (("      to: Adoption", "      to: Advocacy"),),
        "'Value' does not come after 'Advocacy' in the journey",
        "from: [Value, Advocacy]",
        problems=2,
    ),
    "a regression without hysteresis": Mistake(
        "playbooks/segments.yaml",
        (("      for_days: 14", "      for_days: -1"),),
        "greater than or equal to 1",
        "for_days: -1",
    ),
    "a regression condition on an unknown column": Mistake(
        "playbooks/segments.yaml",
        (("when: scouts_sent_sum_4w < 20", "when: scout_sent_sum_4w < 20"),),
        "unknown column 'scout_sent_sum_4w' (did you mean 'scouts_sent_sum_4w'?)",
        "scout_sent_sum_4w < 20",
    ),
    "unknown rule column, with did-you-mean": Mistake(
        "playbooks/rules.yaml",
        (("when: scouts_sent < 20", "when: scout_sent < 20"),),
        "unknown column 'scout_sent' (did you mean 'scouts_sent'?)",
        "scout_sent < 20",
    ),
    "invalid YAML": Mistake(
        "mappings/salesforce.yaml",
        (("  object: Account\n", "  object: [Account\n"),),
        "this is not valid YAML",
        None,
    ),
    "a key defined twice": Mistake(
        "mappings/salesforce.yaml",
        (("    name: Name\n", "    name: Name\n    name: Other__c\n"),),
        "'name' is defined twice",
        "name: Other__c",
    ),
    "misspelt setting": Mistake(
        "playbooks/health.yaml",
        (("      weight: 2\n", "      wieght: 2\n"),),
        "'wieght' is not a setting here; remove it or check the spelling.",
        "wieght",
    ),
    "unknown template variable in a task": Mistake(
        "playbooks/rules.yaml",
        (("{{ months_since_start }}-month", "{{ month }}-month"),),
        "the template uses an unknown column 'month'",
        "{{ month }}-month",
    ),
    "join key that is not an account field": Mistake(
        "mappings/salesforce.yaml",
        (("join_key: tenant_id", "join_key: tenant"),),
        "'tenant' is not one of the account fields",
        "join_key: tenant",
    ),
    "usage from SQL without the query": Mistake(
        "mappings/salesforce.yaml",
        (("  join_key: tenant_id", "  join_key: tenant_id\n  source: sql"),),
        "source: sql needs a 'sql:' section",
        "usage:",
    ),
    "a usage query binding a value the worker does not give": Mistake(
        "mappings/salesforce.yaml",
        (
            (
                "  join_key: tenant_id",
                "  join_key: tenant_id\n  source: sql\n  sql:\n"
                "    query: SELECT * FROM usage WHERE week >= :since AND org = :org",
            ),
        ),
        "the query binds :org; it can bind only :since, :as_of",
        "sql:",
    ),
    "usage files of a format the name does not tell": Mistake(
        "mappings/salesforce.yaml",
        (
            (
                "  join_key: tenant_id",
                "  join_key: tenant_id\n  source: files\n  files:\n    path: s3://b/usage.json",
            ),
        ),
        "cannot tell the format of 's3://b/usage.json'",
        "files:",
    ),
    "a usage path that is not a dotted name": Mistake(
        "mappings/salesforce.yaml",
        (("  join_key: tenant_id", "  join_key: tenant_id\n  fields:\n    week_start: $.week"),),
        "'$.week' is not a path: write the keys joined by dots",
        "week_start: $.week",
    ),
    "a usage path for a metric not listed": Mistake(
        "mappings/salesforce.yaml",
        (
            (
                "  join_key: tenant_id",
                "  join_key: tenant_id\n  fields:\n    metrics: {logons: stats.logons}",
            ),
        ),
        "fields.metrics names metrics not listed under metrics: logons",
        "usage:",
    ),
    "an until parameter that is not a name": Mistake(
        "mappings/salesforce.yaml",
        (("    until_param: until", "    until_param: [until]"),),
        "Input should be a valid string",
        "until_param: [until]",
    ),
    "an until parameter misspelt": Mistake(
        "mappings/salesforce.yaml",
        (("    until_param: until", "    untill_param: until"),),
        "'untill_param' is not a setting here",
        "untill_param: until",
    ),
    "result that is not a computed column": Mistake(
        "mappings/salesforce.yaml",
        (("health_color: CS_Health_Color__c", "health_colour: CS_Health_Color__c"),),
        "'health_colour' is not a column the worker computes",
        "health_colour",
    ),
    "group weights adding up to zero": Mistake(
        "playbooks/health.yaml", _weights(0), "weights add up to 0", "health:"
    ),
    "negative segment weight": Mistake(
        "playbooks/health.yaml",
        (("weights: {deployment: 1,", "weights: {deployment: -1,"),),
        "weights cannot be negative",
        "health:",  # the model's own check: reported at the model
    ),
    "measure in an unknown group": Mistake(
        "playbooks/health.yaml",
        (("group: roi", "group: value"),),
        "unknown groups ['value']",
        "health:",
    ),
    "journey criterion naming no column": Mistake(
        "playbooks/segments.yaml",
        (("done_when: health_score >= 70", "done_when: health >= 70"),),
        "unknown column 'health'",
        "health >= 70",
    ),
    "a field set by a rule but not mapped": Mistake(
        "playbooks/rules.yaml",
        (("          renewal_status: ", "          renewal_state: "),),
        "'renewal_state' is not mapped to a CRM field: add 'renewal_state: <field>' under "
        "rule_fields in",
        "renewal_state: ",
    ),
    "email template setting misspelt": Mistake(
        "playbooks/templates/welcome.yaml",
        (('  subject: "Welcome to', '  subjekt: "Welcome to'),),
        "'subjekt' is not a setting here",
        "subjekt:",
        problems=2,
    ),
    "a text in a language the worker does not ship": Mistake(
        "playbooks/rules.yaml",
        (('            ja: "【スカウト低調】', '            de: "【スカウト低調】'),),
        "'de' is not a language CS Connector ships; use en, ja, or write one text for every",
        "subject:",
    ),
    "an unknown variable in one language's text": Mistake(
        "playbooks/rules.yaml",
        (("今週のスカウト送信 {{ scouts_sent | number }}件", "今週のスカウト送信 {{ scout }}件"),),
        "the template uses an unknown column 'scout'",
        "{{ scout }}件",
    ),
    "unknown variable in a customer email": Mistake(
        "playbooks/templates/welcome.yaml",
        (("I am {{ sender_name }}, your", "I am {{ sender_nam }}, your"),),
        "the template uses an unknown column 'sender_nam'",
        "sender_nam }}",
    ),
    "a decision-maker title pattern the regex engine refuses": Mistake(
        "mappings/salesforce.yaml",
        (
            (
                "    primary: IsPrimary__c\n",
                "    primary: IsPrimary__c\n    title: Title\n",
            ),
            (
                "  decision_maker_roles: [Decision Maker]\n",
                "  decision_maker_roles: [Decision Maker]\n  decision_maker_titles:\n"
                "    - '(?i)\\bCEO\\b'\n    - '(?i)(VP'\n",
            ),
        ),
        "'(?i)(VP' is not a regular expression the worker can use (unclosed group)",
        "- '(?i)(VP'",
    ),
    "decision-maker titles without the title mapped": Mistake(
        "mappings/salesforce.yaml",
        (
            (
                "  decision_maker_roles: [Decision Maker]\n",
                "  decision_maker_roles: [Decision Maker]\n  decision_maker_titles: ['^VP']\n",
            ),
        ),
        "decision_maker_titles are matched against the contacts' title: map it",
        None,
    ),
    "an account field under a name an email's template derives": Mistake(
        "mappings/salesforce.yaml",
        (("    industry: Industry\n", "    industry: Industry\n    sender_name: Name\n"),),
        "'sender_name' is what an email's template calls its sender or recipient",
        "sender_name: Name",
    ),
    "an email from someone who is neither the CSM nor the owner": Mistake(
        "playbooks/rules.yaml",
        (
            (
                "{template: welcome, to_role: Admin}",
                "{template: welcome, to_role: Admin, from: ceo}",
            ),
        ),
        "'csm' or 'owner'",
        "from: ceo",
    ),
}


def _problems(project: Path) -> list[ConfigProblem]:
    """What `validate --offline` reports: parse problems, else the checks' problems."""
    try:
        config = load_config(project / "mappings", project / "playbooks", "salesforce")
    except ConfigError as exc:
        return exc.problems
    return check_config(config)


def _validate(project: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        ["validate", "--offline"],
        env={
            "CRM": "salesforce",
            "MAPPINGS_DIR": str(project / "mappings"),
            "PLAYBOOKS_DIR": str(project / "playbooks"),
            "STATE_DATABASE_URL": f"sqlite:///{project / 'state.db'}",
        },
    )
    return result.exit_code, result.output


def test_shipped_configuration_is_valid() -> None:
    assert _problems(ROOT) == []


@pytest.mark.parametrize("mistake", MISTAKES.values(), ids=MISTAKES.keys())
def test_a_mistake_is_reported_once_at_its_line(project: Path, mistake: Mistake) -> None:
    path = mistake.make(project)

    problems = _problems(project)

    assert len(problems) == mistake.problems, problems
    problem = next(p for p in problems if mistake.says in p.message)
    assert problem.path == path
    if mistake.at is not None:
        assert problem.line == line_of(path, mistake.at)
    else:
        assert problem.line is not None


def test_a_second_health_section_is_an_error(project: Path) -> None:
    health = (project / "playbooks" / "health.yaml").read_text()
    (project / "playbooks" / "zz.yaml").write_text(health)
    problems = _problems(project)
    assert [(p.path.name, p.line) for p in problems] == [
        ("zz.yaml", line_of(project / "playbooks" / "zz.yaml", "health:"))
    ]
    assert "a second 'health:' section" in problems[0].message


@pytest.mark.parametrize(
    "names",
    [
        pytest.param(
            ("misspelt setting", "a key defined twice", "email template setting misspelt"),
            id="three files that do not parse",
        ),
        pytest.param(
            (
                "unknown rule column, with did-you-mean",
                "journey criterion naming no column",
                "result that is not a computed column",
            ),
            id="three files whose names are wrong",
        ),
    ],
)
def test_validate_reports_a_mistake_in_each_of_three_files_in_one_run(
    project: Path, names: tuple[str, ...]
) -> None:
    expected = []
    for name in names:
        mistake = MISTAKES[name]
        path = mistake.make(project)
        assert mistake.at is not None
        expected.append(f"{path}:{line_of(path, mistake.at)}: ")

    code, output = _validate(project)

    assert code == EXIT_CONFIG
    assert output.startswith("Configuration error — nothing was written.\n")
    assert [line for line in expected if line in output] == expected
    assert len(output.strip().splitlines()) == 1 + sum(MISTAKES[n].problems for n in names)


def test_validate_counts_what_it_checked(project: Path) -> None:
    config = load_config(project / "mappings", project / "playbooks", "salesforce")
    code, output = _validate(project)
    assert code == 0, output
    assert output == (
        f"OK: {len(config.rules)} rules, {len(config.health.measures)} health measures; "
        "files agree.\n"
    )


def test_an_email_from_the_csm_needs_the_csms_address_mapped(project: Path) -> None:
    mapping = project / "mappings" / "salesforce.yaml"
    mapping.write_text(mapping.read_text().replace("    csm_email: CSM__r.Email\n", ""))
    rules = project / "playbooks" / "rules.yaml"

    problems = _problems(project)

    says = "the email is from the account's CSM (from: csm, the default), but account.fields"
    assert [(p.path, p.line) for p in problems if says in p.message] == [
        (rules, line_of(rules, "send_email: {template: reporting_tips")),
        (rules, line_of(rules, "send_email: {template: welcome")),
        (rules, line_of(rules, "send_email: {template: renewal_confirmation")),
    ]
    assert len(problems) == 3
    for line in ("reporting_tips, to_role: Admin}", "welcome, to_role: Admin}"):
        rules.write_text(rules.read_text().replace(line, line[:-1] + ", from: owner}"))
    assert len(_problems(project)) == 1  # the renewal email's
