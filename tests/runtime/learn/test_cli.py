"""``helicon learn evaluate`` as a user runs it."""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.helpers import run_cli


def write_rows(path: Path, events: bool, regression: bool = False) -> None:
    rng = random.Random(0)
    with path.open("w") as stream:
        for index in range(600):
            a, b = rng.gauss(0, 1), rng.gauss(0, 1)
            label = 2 * a - b + 0.25 if regression else int(a + b > 0)
            row = {"features": {"a": a, "b": b}, "label": label} if events else {"id": f"e{index}", "a": a, "b": b, "y": label}
            stream.write(json.dumps(row) + "\n")


def test_evaluate_prints_one_json_object_for_flat_rows_and_events(tmp_path: Path) -> None:
    flat, events, numbers = tmp_path / "flat.jsonl", tmp_path / "events.jsonl", tmp_path / "numbers.jsonl"
    write_rows(flat, events=False)
    write_rows(events, events=True)
    write_rows(numbers, events=True, regression=True)

    result = run_cli(["learn", "evaluate", "--model", "hbp:layers=3,units=32", "--input", str(flat), "--target", "y"])
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["n"] == 600 and summary["accuracy"] > 0.85

    result = run_cli(["learn", "evaluate", "--model", "river:preprocessing.StandardScaler|linear_model.LogisticRegression",
                      "--input", str(events), "--target", "label"])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["accuracy"] > 0.9

    result = run_cli(["learn", "evaluate", "--model", "river:linear_model.LinearRegression", "--input", str(numbers), "--target", "label"])
    summary = json.loads(result.stdout)
    assert set(summary) >= {"n", "mae", "rmse"} and summary["mae"] < 0.5


def test_evaluate_names_what_is_wrong(tmp_path: Path) -> None:
    flat = tmp_path / "flat.jsonl"
    write_rows(flat, events=False)
    result = run_cli(["learn", "evaluate", "--model", "hbp", "--input", str(flat), "--target", "nope"])
    assert result.returncode == 2 and "no column 'nope'" in result.stderr and "flat.jsonl:1" in result.stderr
    result = run_cli(["learn", "evaluate", "--model", "svm", "--input", str(flat), "--target", "y"])
    assert result.returncode == 2 and "kind must be one of hbp, mlp, river" in result.stderr
