"""The command line: ``hipspine assess`` and ``hipspine schema case``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cases import JOHN_PATH, john_data, john_weakness_only, obs, replacing
from typer.testing import CliRunner

from hipspine.cli import app


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def flat(text: str) -> str:
    """Rich wraps long lines; compare text with whitespace collapsed."""
    return " ".join(text.split())


def write(tmp_path: Path, data: Any, name: str = "case.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_assess_john_prints_the_conclusion(runner: CliRunner) -> None:
    result = runner.invoke(app, ["assess", str(JOHN_PATH)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    assert "Hip and lumbar spine" in text
    assert "secondary" in text
    assert "Sutlive" in text


def test_assess_john_json(runner: CliRunner) -> None:
    result = runner.invoke(app, ["assess", str(JOHN_PATH), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["conclusion"]["category"] == "hip_and_spine"
    assert payload["conclusion"]["hip_spine_type"] == "secondary"
    assert payload["stage"] == "imaging"
    assert payload["engine_version"]


def test_assess_json_stage_option(runner: CliRunner) -> None:
    result = runner.invoke(app, ["assess", str(JOHN_PATH), "--json", "--stage", "history"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["stage"] == "history"
    assert payload["conclusion"]["hip_spine_type"] is None


def test_assess_json_stages(runner: CliRunner) -> None:
    result = runner.invoke(app, ["assess", str(JOHN_PATH), "--json", "--stages"])
    assert result.exit_code == 0, result.output
    stages = json.loads(result.stdout)["stages"]
    assert [s["stage"] for s in stages] == ["history", "exam", "labs", "imaging"]
    assert any("Sutlive" in change for change in stages[1]["changes"])


def test_assess_red_flag_case(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, replacing(john_data(), obs("urinary_retention", "present")))
    result = runner.invoke(app, ["assess", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["conclusion"]["category"] == "red_flag"


def test_malformed_case_exits_2_naming_the_field(runner: CliRunner, tmp_path: Path) -> None:
    data = john_data()
    data["findings"][3]["result"] = "positive"
    path = write(tmp_path, data)
    result = runner.invoke(app, ["assess", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    err = flat(result.stderr)
    assert "findings.3" in err
    assert "'positive'" in err
    assert "present, absent, unknown" in err
    assert result.stdout == ""


def test_missing_file_is_a_clear_error(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "nowhere.json"
    result = runner.invoke(app, ["assess", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    err = flat(result.stderr)
    assert "nowhere.json" in err
    assert "no such file" in err
    assert "Traceback" not in result.output


def test_invalid_json_is_a_clear_error(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, '{"format": "hipspine.case/1",\n  "findings": [}')
    result = runner.invoke(app, ["assess", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    err = flat(result.stderr)
    assert "not valid JSON" in err
    assert "line 2" in err
    assert "Traceback" not in result.output


def test_schema_case_prints_valid_json_schema(runner: CliRunner) -> None:
    result = runner.invoke(app, ["schema", "case"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(john_data())


def test_assess_an_empty_case_is_undetermined(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, {})
    result = runner.invoke(app, ["assess", str(path), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["conclusion"]["category"] == "undetermined"


def test_assess_john_names_the_pain_location_rule_and_superseded_rules(
    runner: CliRunner,
) -> None:
    result = runner.invoke(app, ["assess", str(JOHN_PATH)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    assert "Guggino pain-location rule" in text
    assert "pain in or just above the buttock (right): yes → LR 1.2" in text
    assert "⊘ Sutlive 2008" in text and "not counted: a hip radiograph is recorded" in text
    assert "hyperlordotic; expert default" in text


def test_assess_json_carries_the_named_rule(runner: CliRunner) -> None:
    result = runner.invoke(app, ["assess", str(JOHN_PATH), "--json"])
    payload = json.loads(result.stdout)
    rule = next(n for n in payload["named_rules"] if n["id"] == "guggino_pain_location")
    assert rule["applied"] and rule["citation"].startswith("Guggino")
    assert {r["rule"] for r in rule["results"]} == {
        "hip_pain_location_groin",
        "guggino_lateral_or_buttock",
    }


def test_assess_prints_a_link_that_was_examined_and_not_observed(
    runner: CliRunner, tmp_path: Path
) -> None:
    data = replacing(
        john_data(),
        obs("lumbar_hyperlordosis", "absent"),
        obs("anterior_pelvic_tilt", "absent"),
        obs("lumbar_lordosis_standing", value=50),
        obs("pelvic_incidence", value=50),
        obs("pelvic_tilt_standing", value=10),
        obs("sacral_slope_standing", value=40),
    )
    path = write(tmp_path, data)
    result = runner.invoke(app, ["assess", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "not observed" in flat(result.stdout)


def test_assess_possibly_secondary_case(runner: CliRunner, tmp_path: Path) -> None:
    data = john_weakness_only()
    result = runner.invoke(app, ["assess", str(write(tmp_path, data)), "--json"])
    payload = json.loads(result.stdout)
    assert payload["conclusion"]["hip_spine_type"] == "possibly_secondary"
    assert "possibly secondary" in payload["conclusion"]["label"]
