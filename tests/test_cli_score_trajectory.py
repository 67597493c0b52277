"""`hipspine score` and `hipspine trajectory`, end to end through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hipspine.cli import app
from hipspine.clinical.instruments import INSTRUMENT_IDS

ROOT = Path(__file__).resolve().parents[1]
ANSWERS = ROOT / "examples" / "answers"
JOHN = ROOT / "examples" / "john-followup.json"
runner = CliRunner()


@pytest.mark.parametrize("instrument", INSTRUMENT_IDS)
def test_score_every_sample_answers_file(instrument: str) -> None:
    path = ANSWERS / f"{instrument}.json"
    result = runner.invoke(app, ["score", instrument, str(path), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["instrument"] == instrument
    assert payload["missing_data_rule"]["rule"]
    assert payload["licence"]["notice"]
    text = runner.invoke(app, ["score", instrument, str(path)])
    assert text.exit_code == 0
    assert "Missing-data rule" in text.stdout and "Licence" in text.stdout


def test_score_odi_sample_value_and_band() -> None:
    result = runner.invoke(app, ["score", "odi", str(ANSWERS / "odi.json"), "--json"])
    payload = json.loads(result.stdout)
    # 16 of 45 points (sex life unanswered, left out of the denominator) = 35.56%
    assert payload["score"] == pytest.approx(16 / 45 * 100)
    assert payload["band"]["id"] == "moderate"
    assert payload["missing"] == 1


def test_score_bad_answer_names_the_item(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"lifting": 7}', encoding="utf-8")
    result = runner.invoke(app, ["score", "odi", str(bad)])
    assert result.exit_code == 2
    assert "lifting" in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["score", "womac", "x.json"], "unknown instrument"),
        (["score", "odi", "missing-file.json"], "no such file"),
    ],
)
def test_score_errors_exit_2(args: list[str], expected: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert expected in result.stderr


def test_score_rejects_non_object(tmp_path: Path) -> None:
    bad = tmp_path / "list.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    result = runner.invoke(app, ["score", "odi", str(bad)])
    assert result.exit_code == 2 and "JSON object" in result.stderr


def test_trajectory_json_parses_and_says_back_first() -> None:
    result = runner.invoke(app, ["trajectory", str(JOHN), "--json", "--today", "2026-08-10"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    firsts = payload["first_improvements"]
    assert [f["region"] for f in firsts][:1] == ["lumbar"]
    hip = next(f for f in firsts if f["region"] == "groin")
    assert hip["weeks_since_treatment"] == 13.0
    clinician = payload["summary"]["clinician"]
    assert any("improved first" in s["text"] for s in clinician)
    assert all(isinstance(s["evidence"], dict) for s in clinician)
    assert payload["summary"]["patient"][0]["text"].startswith("Your low back pain eased first")


def test_trajectory_text_renders_at_100_columns() -> None:
    result = runner.invoke(
        app, ["trajectory", str(JOHN), "--today", "2026-08-10"], env={"COLUMNS": "100"}
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Time to first clinically important improvement" in out
    assert "Summary for the clinician" in out and "Summary for the patient" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_trajectory_bad_today_exits_2() -> None:
    result = runner.invoke(app, ["trajectory", str(JOHN), "--today", "August"])
    assert result.exit_code == 2 and "--today" in result.stderr


def test_trajectory_visit_after_today_exits_2() -> None:
    result = runner.invoke(app, ["trajectory", str(JOHN), "--today", "2026-01-01"])
    assert result.exit_code == 2 and "after today" in result.stderr


def test_trajectory_bad_series_names_the_field(tmp_path: Path) -> None:
    data = json.loads(JOHN.read_text(encoding="utf-8"))
    data["visits"][1]["pain"][0]["score"] = 12
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    result = runner.invoke(app, ["trajectory", str(bad), "--today", "2026-08-10"])
    assert result.exit_code == 2
    assert "visits.1.pain.0.score" in result.stderr


def test_trajectory_schedule_option() -> None:
    result = runner.invoke(
        app,
        ["trajectory", str(JOHN), "--json", "--today", "2026-08-10", "--schedule", "0,6w,3m,9m"],
    )
    assert result.exit_code == 0, result.output
    points = json.loads(result.stdout)["schedule"]["time_points"]
    # 9 months after 2025-12-08 = 2026-09-08, window ±30 days: the 2026-08-10 visit counts
    assert [(p["time_point"]["label"], p["status"]) for p in points] == [
        ("Baseline", "completed"),
        ("6 weeks", "completed"),
        ("3 months", "completed"),
        ("9 months", "completed"),
    ]
    default = json.loads(
        runner.invoke(app, ["trajectory", str(JOHN), "--json", "--today", "2026-08-10"]).stdout
    )
    assert [p["time_point"]["id"] for p in default["schedule"]["time_points"]][:5] == [
        "baseline",
        "week_6",
        "month_3",
        "month_6",
        "month_12",
    ]


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [("0,6x", "'6x' is not a time point"), ("0,6w,7w", "overlap")],
)
def test_trajectory_bad_schedule_exits_2(schedule: str, expected: str) -> None:
    result = runner.invoke(
        app, ["trajectory", str(JOHN), "--today", "2026-08-10", "--schedule", schedule]
    )
    assert result.exit_code == 2
    assert "--schedule" in result.stderr and expected in result.stderr


def test_trajectory_shows_side_to_side_dynamometry() -> None:
    text = runner.invoke(
        app, ["trajectory", str(JOHN), "--today", "2026-08-10"], env={"COLUMNS": "100"}
    ).stdout
    assert "Dynamometry by visit and side" in text
    # John's right gluteus maximus at baseline: 72 N·m, 0.86 N·m/kg, 21.9 %BW; LSI 69%
    assert "0.86/kg 21.9%BW" in text and "69%" in text and "possible deficit" in text
    payload = json.loads(
        runner.invoke(app, ["trajectory", str(JOHN), "--json", "--today", "2026-08-10"]).stdout
    )
    first = payload["side_to_side"][0]
    assert (first["muscle"], first["asymmetry"]["status"]) == (
        "gluteus_maximus",
        "possible deficit",
    )
    assert first["right"]["body_mass_source"] == "reading"
    clinician = [s["text"] for s in payload["summary"]["clinician"]]
    assert any(t.startswith("Dynamometry side to side") for t in clinician)
