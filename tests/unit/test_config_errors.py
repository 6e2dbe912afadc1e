"""Bad configuration fails with `file:line` and a sentence that says what to do."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from connector.checks import check_config
from connector.config.load import load_config
from connector.errors import ConfigError
from tests.lines import line_of

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    shutil.copytree(ROOT / "playbooks", tmp_path / "playbooks")
    return tmp_path


def _load(project: Path) -> None:
    config = load_config(project / "mappings", project / "playbooks", "salesforce")
    problems = check_config(config)
    if problems:
        raise ConfigError(problems)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"fixture text {old!r} not found in {path}"
    path.write_text(text.replace(old, new, 1))


def test_shipped_configuration_is_valid() -> None:
    config = load_config(ROOT / "mappings", ROOT / "playbooks", "salesforce")
    assert {r.id for r in config.rules} >= {"low-scouting", "tenure-check-in", "renewal-90-days"}


def test_unknown_rule_column_names_file_line_and_suggests(project: Path) -> None:
    rules = project / "playbooks" / "rules.yaml"
    _edit(rules, "when: scouts_sent < 20", "when: scout_sent < 20")
    with pytest.raises(ConfigError) as raised:
        _load(project)
    message = str(raised.value)
    assert f"{rules}:{line_of(rules, 'scout_sent < 20')}:" in message
    assert "did you mean 'scouts_sent'" in message
    assert "Valid names:" in message


def test_bad_yaml_names_the_line(project: Path) -> None:
    mapping = project / "mappings" / "salesforce.yaml"
    _edit(mapping, "  object: Account\n", "  object: [Account\n")
    with pytest.raises(ConfigError, match=r"salesforce\.yaml:\d+: this is not valid YAML"):
        _load(project)


def test_duplicate_key_is_an_error_not_a_silent_override(project: Path) -> None:
    mapping = project / "mappings" / "salesforce.yaml"
    _edit(mapping, "    name: Name\n", "    name: Name\n    name: Other__c\n")
    with pytest.raises(ConfigError, match="'name' is defined twice"):
        _load(project)


def test_misspelt_setting_is_reported_at_its_line(project: Path) -> None:
    health = project / "playbooks" / "health.yaml"
    _edit(health, "      weight: 2\n", "      wieght: 2\n")
    with pytest.raises(ConfigError) as raised:
        _load(project)
    assert f"{health}:{line_of(health, 'wieght')}: 'wieght' is not a setting" in str(raised.value)


def test_unknown_template_variable_is_caught_before_any_run(project: Path) -> None:
    rules = project / "playbooks" / "rules.yaml"
    _edit(rules, "{{ months_since_start }}-month", "{{ month }}-month")
    with pytest.raises(ConfigError, match="the template uses an unknown column 'month'"):
        _load(project)


def test_join_key_must_be_an_account_field(project: Path) -> None:
    mapping = project / "mappings" / "salesforce.yaml"
    _edit(mapping, "join_key: tenant_id", "join_key: tenant")
    with pytest.raises(ConfigError) as raised:
        _load(project)
    assert f"{mapping}:{line_of(mapping, 'join_key: tenant')}:" in str(raised.value)


def test_result_must_be_a_computed_column(project: Path) -> None:
    mapping = project / "mappings" / "salesforce.yaml"
    _edit(mapping, "health_color: CS_Health_Color__c", "health_colour: CS_Health_Color__c")
    with pytest.raises(ConfigError, match="'health_colour' is not a column the worker computes"):
        _load(project)


def test_every_problem_is_reported_at_once(project: Path) -> None:
    rules = project / "playbooks" / "rules.yaml"
    _edit(rules, "when: scouts_sent < 20", "when: scout_sent < 20")
    _edit(rules, "BETWEEN 0 AND 90", "BETWEEN 0 AND ninety")
    with pytest.raises(ConfigError) as raised:
        _load(project)
    assert len(raised.value.problems) == 2


def test_group_weights_adding_up_to_zero_are_rejected(project: Path) -> None:
    health = project / "playbooks" / "health.yaml"
    for group in ("deployment", "engagement", "adoption", "roi"):
        _edit(
            health,
            f"label: {group.capitalize() if group != 'roi' else 'ROI'}, weight: 1}}",
            f"label: {group.capitalize() if group != 'roi' else 'ROI'}, weight: 0}}",
        )
    with pytest.raises(ConfigError, match="weights add up to 0") as raised:
        _load(project)
    assert f"{health}:" in str(raised.value)


def test_negative_segment_weight_is_rejected(project: Path) -> None:
    health = project / "playbooks" / "health.yaml"
    _edit(health, "weights: {deployment: 1,", "weights: {deployment: -1,")
    with pytest.raises(ConfigError, match="weights cannot be negative"):
        _load(project)


def test_measure_in_an_unknown_group_is_rejected(project: Path) -> None:
    health = project / "playbooks" / "health.yaml"
    _edit(health, "group: roi", "group: value")
    with pytest.raises(ConfigError, match=r"unknown groups \['value'\]"):
        _load(project)


def test_bad_journey_criterion_names_its_line(project: Path) -> None:
    segments = project / "playbooks" / "segments.yaml"
    _edit(segments, "done_when: health_score >= 70", "done_when: health >= 70")
    with pytest.raises(ConfigError) as raised:
        _load(project)
    assert f"{segments}:{line_of(segments, 'health >= 70')}: unknown column 'health'" in str(
        raised.value
    )


def test_second_health_section_is_an_error(project: Path) -> None:
    (project / "playbooks" / "zz.yaml").write_text(
        (project / "playbooks" / "health.yaml").read_text()
    )
    with pytest.raises(ConfigError, match="a second 'health:' section"):
        _load(project)


def test_a_field_set_by_a_rule_must_be_mapped_to_a_crm_field(project: Path) -> None:
    rules = project / "playbooks" / "rules.yaml"
    _edit(rules, "          renewal_status: ", "          renewal_state: ")
    with pytest.raises(ConfigError) as raised:
        _load(project)
    assert (
        f"{rules}:{line_of(rules, 'renewal_state: ')}: 'renewal_state' is not mapped to a CRM "
        "field: add 'renewal_state: <field>' under rule_fields in"
    ) in str(raised.value)
