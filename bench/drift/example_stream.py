"""Write the seeded example stream of docs/drift.md's figures (JSONL on stdout).

    .venv/bin/python bench/drift/example_stream.py > example.jsonl
    .venv/bin/helicon drift report --input example.jsonl --out drift-report/

6000 events, two features; at event 3000 the mean of f00 moves by 1σ and the model's error rate
moves from 0.10 to 0.30.
"""

from __future__ import annotations

import json
import sys

from helicon.runtime.drift.synthetic import feature_stream, outcome_stream


def main() -> None:
    features = feature_stream(6_000, 2, (3_000,), 1.0, seed=3, drifting=1)
    outcomes = outcome_stream(6_000, (3_000,), 0.1, 0.3, seed=3)
    for row, outcome in zip(features, outcomes):
        sys.stdout.write(json.dumps({"features": row["features"], "prediction": outcome["prediction"],
                                     "label": outcome["label"]}) + "\n")


if __name__ == "__main__":
    main()
