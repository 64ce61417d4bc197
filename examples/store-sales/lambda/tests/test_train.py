"""Training: seeded, better than the naive baseline, and model.json serves the same predictions."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import boto3
import pytest

import train
from model import SalesEvent, load_model
from train import DataConfig


def test_training_is_deterministic_for_a_seed() -> None:
    first, first_doc = train.train("r", DataConfig(seed=3))
    again, again_doc = train.train("r", DataConfig(seed=3))
    other, _ = train.train("r", DataConfig(seed=4))

    assert first.coefficients == again.coefficients
    assert first_doc["metrics"] == again_doc["metrics"]
    assert other.coefficients != first.coefficients


@pytest.mark.parametrize("seed", [1, 42, 2024])
def test_the_model_beats_the_per_store_mean_on_the_holdout(seed: int) -> None:
    _, document = train.train("r", DataConfig(seed=seed))
    metrics = document["metrics"]

    assert metrics["holdout_rows"] == 10 * train.HOLDOUT_DAYS
    assert metrics["holdout_rmse"] < 0.6 * metrics["baseline_rmse"]
    assert metrics["holdout_mape"] < 0.6 * metrics["baseline_mape"]


def test_the_model_learns_the_effects_in_the_data() -> None:
    model, _ = train.train("r", DataConfig(seed=5))
    monday, saturday = dt.date(2024, 6, 3), dt.date(2024, 6, 8)

    assert model.coefficient("promo") > 0
    for store in range(1, 11):
        assert model.predict(SalesEvent(store, saturday, 0)) > model.predict(SalesEvent(store, monday, 0))
        assert model.predict(SalesEvent(store, monday, 1)) > model.predict(SalesEvent(store, monday, 0))


def test_model_json_round_trips_through_the_shared_predict(tmp_path: Path) -> None:
    assert train.main(["--run-id", "run-7", "--out", str(tmp_path), "--seed", "7"]) == 0

    document = json.loads((tmp_path / "model.json").read_text())
    served = load_model((tmp_path / "model.json").read_bytes())
    trained, _ = train.train("run-7", DataConfig(seed=7))
    _, holdout = train.split_by_time(train.generate_sales(DataConfig(seed=7)), train.HOLDOUT_DAYS)

    assert document["format_version"] == 1
    assert document["run_id"] == served.run_id == "run-7"
    assert dt.datetime.fromisoformat(document["trained_at"]).tzinfo is not None
    assert [served.predict(o.event) for o in holdout] == [trained.predict(o.event) for o in holdout]
    # the metric written at training time is what the served model scores on the holdout
    squared = [(o.sales - served.predict(o.event)) ** 2 for o in holdout]
    assert math.sqrt(sum(squared) / len(squared)) == pytest.approx(document["metrics"]["holdout_rmse"], abs=1e-3)


def test_a_model_of_another_format_is_refused(tmp_path: Path) -> None:
    train.main(["--run-id", "r", "--out", str(tmp_path)])
    document = json.loads((tmp_path / "model.json").read_text())

    with pytest.raises(ValueError, match="format_version"):
        load_model(json.dumps({**document, "format_version": 2}))
    with pytest.raises(ValueError, match="columns"):
        load_model(json.dumps({**document, "feature_spec": {**document["feature_spec"], "stores": [1, 2]}}))


def test_upload_puts_the_model_under_prefix_and_run(aws: None, tmp_path: Path) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="models")

    train.main(["--run-id", "run-9", "--out", str(tmp_path), "--upload", "s3://models/store-sales/"])

    body = s3.get_object(Bucket="models", Key="store-sales/run-9/model.json")["Body"].read()
    assert body == (tmp_path / "model.json").read_bytes()
    assert load_model(body).run_id == "run-9"


@pytest.mark.parametrize("argv", [
    ["--run-id", "a/b", "--out", "x"],
    ["--run-id", "r", "--out", "x", "--upload", "models/prefix"],
    ["--run-id", "r", "--out", "x", "--upload", "s3:///prefix"],
])
def test_bad_arguments_are_refused(argv: list[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        train.main([*argv[:3], str(tmp_path / "x"), *argv[4:]])
    assert exit_info.value.code == 2
    assert not (tmp_path / "x").exists()
