"""The CS team reads its tasks, health reasons and digest in its own language (TEAM_LANGUAGE)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from connector.checks import check_config
from connector.cli import EXIT_CONFIG, app
from connector.config.load import load_config
from connector.config.playbook import HealthModel, PlaybookFile, Rule, SlackDigest
from connector.config.validation import parse_document
from connector.config.yaml_lines import load_yaml
from connector.engine.health import HISTORY_SCHEMA, score_health
from connector.engine.rules import RuleSources
from connector.language import LANGUAGES
from connector.messages.digest import build_digest
from connector.plan.actions import plan_actions
from connector.settings import Settings
from connector.templates import render
from tests.lines import line_of

ROOT = Path(__file__).resolve().parents[2]
AS_OF = date(2026, 11, 23)
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")  # kana and kanji


def test_the_team_language_is_a_setting_english_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TEAM_LANGUAGE", raising=False)
    assert Settings(_env_file=None).team_language == "en"  # type: ignore[call-arg]
    assert Settings(_env_file=None, team_language="JA").team_language == "ja"  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="TEAM_LANGUAGE 'de' is not a language CS Connector"):
        Settings(_env_file=None, team_language="de")  # type: ignore[call-arg]


def test_dates_are_written_the_way_the_team_writes_them() -> None:
    values = {"day": date(2026, 11, 26), "arr": 1234567.8, "none": None}
    source = "{{ day | date }} · {{ arr | number }} · {{ none | date }} · {{ day | date('%d/%m') }}"
    assert render(source, values) == "2026-11-26 · 1,234,568 · — · 26/11"
    # Japanese business writing groups digits with commas too; only the date changes
    assert render(source, values, language="ja") == "2026年11月26日 · 1,234,568 · — · 26/11"


RULE = Rule.model_validate(
    {
        "id": "renewal",
        "description": "d",
        "when": "true",
        "period": "renewal_date",
        "actions": [
            {
                "create_task": {
                    "subject": {
                        "en": "Call {{ name }} about {{ renewal_date | date }}",
                        "ja": "【更新確認】{{ name }}：{{ renewal_date | date }}の更新",
                    },
                    "description": "ARR {{ arr | number }}",  # one text for every language
                }
            },
            {"post_to_slack": {"text": {"en": "{{ name }} renews", "ja": "{{ name }}が更新"}}},
        ],
    }
)
TABLE = pl.DataFrame(
    {
        "id": ["a"],
        "name": ["Acme"],
        "owner_id": ["u1"],
        "arr": [12000.0],
        "renewal_date": [date(2027, 3, 1)],
    }
)
FIRINGS = pl.DataFrame({"rule_id": ["renewal"], "account_id": ["a"], "period": ["2027-03-01"]})


@pytest.mark.parametrize(
    ("language", "subject", "slack"),
    [
        ("en", "Call Acme about 2027-03-01", "Acme renews"),
        ("ja", "【更新確認】Acme：2027年3月1日の更新", "Acmeが更新"),
    ],
)
def test_tasks_and_slack_posts_are_written_in_the_team_language(
    language: str, subject: str, slack: str
) -> None:
    plan = plan_actions(
        TABLE,
        FIRINGS,
        [RULE],
        {},
        [],
        as_of=AS_OF,
        assign_to="owner_id",
        status="Not Started",
        language=language,  # type: ignore[arg-type]
    )
    (task,) = plan.tasks
    assert (task.subject, task.description) == (subject, "ARR 12,000")
    assert [message.text for message in plan.slack] == [slack]


FAILING_IN_JAPANESE = """
rules:
  - id: renewal
    description: d
    when: "true"
    actions:
      - create_task:
          subject:
            en: "Call {{ name }}"
            ja: "{{ name }}：{{ (arr / 0) | number }}"
"""


def test_a_text_that_fails_on_the_data_is_reported_at_its_language_line(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(FAILING_IN_JAPANESE)
    doc = load_yaml(path)
    (rule,) = parse_document(doc, PlaybookFile).rules
    plan = plan_actions(
        TABLE,
        FIRINGS,
        [rule],
        {},
        [],
        as_of=AS_OF,
        assign_to="owner_id",
        status="Not Started",
        sources=RuleSources({"renewal": (doc, 0)}),
        language="ja",
    )
    assert plan.tasks == []
    (skipped,) = plan.skipped
    assert skipped.where == f"{path}:{line_of(path, 'ja: ')}"
    assert "division by zero" in skipped.reason


MODEL = HealthModel.model_validate(
    {
        "groups": {
            "deployment": {"label": {"en": "Deployment", "ja": "導入"}},
            "roi": {"label": "ROI"},
        },
        "measures": [
            {
                "id": "seats",
                "group": "deployment",
                "label": {"en": "Active seats", "ja": "稼働ID"},
                "expr": "active / seats",
                "display": "CAST(active AS INTEGER) || '/' || CAST(seats AS INTEGER)",
                "scale": {"worst": 0, "best": 1},
            },
            {
                "id": "interviews",
                "group": "roi",
                "label": {"en": "Interviews", "ja": "面接実施数"},
                "expr": "interviews",
                "scale": {"worst": 0, "best": 10},
            },
        ],
        "colors": [{"color": "Green", "min": 70}, {"color": "Red", "min": 0}],
    }
)


@pytest.mark.parametrize(
    ("language", "reason"),
    [
        ("en", "Deployment 20: Active seats 2/10; ROI 50: Interviews 5"),
        ("ja", "導入 20（稼働ID 2/10）、ROI 50（面接実施数 5）"),
    ],
)
def test_the_health_reason_is_written_in_the_team_language(language: str, reason: str) -> None:
    table = pl.DataFrame({"id": ["a"], "active": [2.0], "seats": [10.0], "interviews": [5.0]})
    scored = score_health(
        table,
        MODEL,
        table.columns,
        history=pl.DataFrame(schema=HISTORY_SCHEMA),
        as_of=AS_OF,
        language=language,  # type: ignore[arg-type]
    )
    assert scored["health_reason"].to_list() == [reason]


@pytest.mark.parametrize(
    ("language", "reason"),
    [
        ("en", "No usage data this week: health could not be scored."),
        ("ja", "今週の利用データがないため、ヘルススコアを算出できません。"),
    ],
)
def test_an_account_without_usage_gets_a_reason_in_the_team_language(
    language: str, reason: str
) -> None:
    """Never an empty reason: the CRM would keep it as no value and the CSM would read
    nothing."""
    table = pl.DataFrame(
        {"id": ["a"], "active": [None], "seats": [None], "interviews": [None]},
        schema={
            "id": pl.String,
            "active": pl.Float64,
            "seats": pl.Float64,
            "interviews": pl.Float64,
        },
    )
    scored = score_health(
        table,
        MODEL,
        table.columns,
        history=pl.DataFrame(schema=HISTORY_SCHEMA),
        as_of=AS_OF,
        language=language,  # type: ignore[arg-type]
    )
    assert scored["health_reason"].to_list() == [reason]


def test_the_digest_is_worded_for_a_japanese_team_under_the_same_key() -> None:
    table = pl.DataFrame(
        {
            "id": ["001A", "001B"],
            "name": ["Acme", "Beta"],
            "owner_name": ["田中 愛子", None],
            "health_score": [12.0, None],
            "health_color": ["Red", "Red"],
            "health_trend": [-15.0, None],
            "arr": [12000.0, None],
            "renewal_date": [date(2027, 3, 1), None],
        }
    )
    english, japanese = (
        build_digest(table, SlackDigest(), AS_OF, lambda i: f"https://crm/{i}", language)
        for language in LANGUAGES
    )
    (message,) = japanese
    assert message.key == english[0].key == "slack-digest:2026-W48:1"  # sent once, any language
    assert message.text == "要対応アカウント: 対応が必要なアカウント 2件（2026年11月23日の週）"
    header, _summary, *sections = message.blocks
    assert header["text"]["text"] == "要対応アカウント — 2026年11月23日の週"
    assert [section["text"]["text"].splitlines() for section in sections] == [
        [
            "*田中 愛子* (1)",
            "• <https://crm/001A|Acme> · *12* Red · 変動 -15 · ARR ￥12,000 · 更新日 2027年3月1日",
        ],
        ["*担当者なし* (1)", "• <https://crm/001B|Beta> · *スコアなし* Red"],
    ]


def _drop_japanese_subject(project: Path) -> Path:
    rules = project / "playbooks" / "rules.yaml"
    text = rules.read_text()
    start = text.index('            ja: "【スカウト低調】')
    rules.write_text(text[:start] + text[text.index("\n", start) + 1 :])
    return rules


def test_a_text_missing_in_the_team_language_is_a_validate_error_at_its_line(
    project: Path,
) -> None:
    rules = _drop_japanese_subject(project)
    config = load_config(project / "mappings", project / "playbooks", "salesforce")

    assert check_config(config, "en") == []
    (problem,) = check_config(config, "ja")

    assert (problem.path, problem.line) == (rules, line_of(rules, "subject:"))
    assert problem.message == (
        "there is no 'ja' text here, and the team reads ja (TEAM_LANGUAGE): add 'ja:' beside "
        "'en', or write one text for every language."
    )
    result = CliRunner().invoke(
        app,
        ["validate", "--offline"],
        env={
            "MAPPINGS_DIR": str(project / "mappings"),
            "PLAYBOOKS_DIR": str(project / "playbooks"),
            "TEAM_LANGUAGE": "ja",
        },
    )
    assert result.exit_code == EXIT_CONFIG
    assert f"{rules}:{problem.line}: there is no 'ja' text here" in result.output


def test_every_shipped_text_a_csm_reads_is_there_in_japanese() -> None:
    config = load_config(ROOT / "mappings", ROOT / "playbooks", "salesforce")
    assert check_config(config, "ja") == []
    texts = [
        text
        for rule in config.rules
        for action in rule.actions
        for part, text in action.templates().items()
        if part[0] != "set_fields"
    ]
    texts += [group.label for group in config.health.groups.values() if group.label != "ROI"]
    texts += [measure.label for measure in config.health.measures]
    assert len(texts) >= 30
    for text in texts:
        assert isinstance(text, dict), text
        assert set(text) == {"en", "ja"}, text
        assert JAPANESE.search(text["ja"]), text


@pytest.mark.parametrize(
    ("language", "currency", "written"),
    [
        ("en", None, "$1,234,568"),
        ("ja", None, "￥1,234,568"),
        ("en", "EUR", "€1,234,568"),
        ("ja", "USD", "$1,234,568"),
        ("en", "JPY", "¥1,234,568"),
    ],
)
def test_amounts_are_written_with_the_teams_currency_by_babel(
    language: str, currency: str | None, written: str
) -> None:
    values = {"arr": 1234567.8, "none": None}
    assert render(
        "{{ arr | money }} · {{ none | money }}",
        values,
        language=language,  # type: ignore[arg-type]
        currency=currency,
    ) == (f"{written} · —")


def test_numbers_and_percentages_follow_the_teams_locale() -> None:
    values = {"rate": 0.1234, "n": 1234.5}
    source = "{{ rate | percent(1) }} · {{ n | number(2) }}"
    assert render(source, values, language="ja") == "12.3% · 1,234.50"


def test_task_texts_and_the_digest_carry_the_configured_currency() -> None:
    rule = Rule.model_validate(
        {
            "id": "renewal",
            "description": "d",
            "when": "true",
            "period": "renewal_date",
            "actions": [
                {"create_task": {"subject": "{{ name }}", "description": "ARR {{ arr | money }}"}}
            ],
        }
    )
    plan = plan_actions(
        TABLE,
        FIRINGS,
        [rule],
        {},
        [],
        as_of=AS_OF,
        assign_to="owner_id",
        status="Not Started",
        language="ja",
        currency="EUR",
    )
    (task,) = plan.tasks
    assert task.description == "ARR €12,000"
    table = TABLE.with_columns(
        owner_name=pl.lit("Aiko"),
        health_score=pl.lit(12.0),
        health_color=pl.lit("Red"),
        health_trend=pl.lit(-15.0),
    )
    (digest,) = build_digest(table, SlackDigest(), AS_OF, str, "en", currency="EUR")
    assert "ARR €12,000" in digest.blocks[2]["text"]["text"]


def test_currency_is_a_checked_setting_defaulting_to_the_team_languages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CURRENCY", raising=False)
    monkeypatch.delenv("TEAM_LANGUAGE", raising=False)
    assert Settings(_env_file=None).amount_currency == "USD"  # type: ignore[call-arg]
    assert Settings(_env_file=None, team_language="ja").amount_currency == "JPY"  # type: ignore[call-arg]
    assert Settings(_env_file=None, currency=" eur ").amount_currency == "EUR"  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="CURRENCY 'YEN' is not an ISO 4217 currency code"):
        Settings(_env_file=None, currency="yen")  # type: ignore[call-arg]
