"""Train the store-sales model on seeded synthetic data and write model.json.

    python3 train.py --run-id RUN --out DIR [--seed N] [--upload s3://BUCKET/PREFIX]

The data: every store has a base level, a weekly profile (shared shape, weekend peak), a promo uplift of its own,
a yearly wave (shared phase, December peak, per-store amplitude) and additive noise; the log-linear model in
model.py approximates this (one promo effect for all stores, no noise model), it does not restate it.
The last HOLDOUT_DAYS days are held out; the model is compared there with a per-store mean baseline.
The fit is ridge regression on log(1 + sales), solved by Gaussian elimination on the normal equations (standard library only).
With --upload, PREFIX + RUN + "/model.json" is put with boto3 (which honours AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from model import FORMAT_VERSION, FeatureSpec, Model, SalesEvent

START_DATE = dt.date(2023, 1, 1)
WEEKLY_PROFILE = (0.85, 0.9, 0.95, 1.0, 1.15, 1.35, 1.1)  # Monday..Sunday
PROMO_RATE = 0.2
RIDGE_LAMBDA = 1.0
HOLDOUT_DAYS = 90


@dataclass(frozen=True)
class Observation:
    event: SalesEvent
    sales: float


@dataclass(frozen=True)
class DataConfig:
    seed: int = 42
    stores: int = 10
    days: int = 730


def generate_sales(config: DataConfig) -> list[Observation]:
    """Synthetic daily sales for config.stores stores over config.days days, the same for the same config."""
    rng = random.Random(config.seed)
    observations = []
    for store_id in range(1, config.stores + 1):
        base = rng.uniform(80.0, 400.0)
        uplift = rng.uniform(0.15, 0.35)
        amplitude = rng.uniform(0.05, 0.2)
        for offset in range(config.days):
            day = START_DATE + dt.timedelta(days=offset)
            promo = 1 if rng.random() < PROMO_RATE else 0
            wave = 1.0 + amplitude * math.cos(2.0 * math.pi * (day.timetuple().tm_yday - 350) / 365.25)
            mean = base * WEEKLY_PROFILE[day.weekday()] * (1.0 + uplift * promo) * wave
            sales = max(0.0, mean + rng.gauss(0.0, 0.06 * base))
            observations.append(Observation(SalesEvent(store_id, day, promo), round(sales, 2)))
    return observations


def split_by_time(observations: Sequence[Observation], holdout_days: int) -> tuple[list[Observation], list[Observation]]:
    """Everything before the last holdout_days days trains; the last days evaluate."""
    cutoff = max(obs.event.date for obs in observations) - dt.timedelta(days=holdout_days - 1)
    train = [obs for obs in observations if obs.event.date < cutoff]
    holdout = [obs for obs in observations if obs.event.date >= cutoff]
    return train, holdout


def solve(matrix: list[list[float]], rhs: list[float]) -> list[float]:
    """Solve matrix . x = rhs by Gaussian elimination with partial pivoting."""
    size = len(rhs)
    rows = [list(row) + [value] for row, value in zip(matrix, rhs)]
    for col in range(size):
        pivot = max(range(col, size), key=lambda r: abs(rows[r][col]))
        if abs(rows[pivot][col]) < 1e-12:
            raise ValueError("the normal equations are singular")
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(col + 1, size):
            factor = rows[r][col] / rows[col][col]
            if factor:
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[col])]
    solution = [0.0] * size
    for r in reversed(range(size)):
        known = sum(rows[r][c] * solution[c] for c in range(r + 1, size))
        solution[r] = (rows[r][size] - known) / rows[r][r]
    return solution


def fit_ridge(spec: FeatureSpec, train: Sequence[Observation], penalty: float) -> list[float]:
    """Coefficients minimising the squared error in log(1 + sales) + penalty * |w|^2 (intercept not penalised)."""
    width = len(spec.columns())
    gram = [[0.0] * width for _ in range(width)]
    moment = [0.0] * width
    for obs in train:
        x = spec.features(obs.event)
        target = math.log1p(obs.sales)
        for i, xi in enumerate(x):
            if xi:
                moment[i] += xi * target
                row = gram[i]
                for j, xj in enumerate(x):
                    row[j] += xi * xj
    for i in range(1, width):
        gram[i][i] += penalty
    return solve(gram, moment)


def rmse(actual: Sequence[float], predicted: Sequence[float]) -> float:
    return math.sqrt(sum((a - p) ** 2 for a, p in zip(actual, predicted)) / len(actual))


def mape(actual: Sequence[float], predicted: Sequence[float]) -> float:
    """Mean absolute percentage error over the days with sales."""
    pairs = [(a, p) for a, p in zip(actual, predicted) if a > 0]
    return 100.0 * sum(abs(a - p) / a for a, p in pairs) / len(pairs)


def store_means(train: Sequence[Observation]) -> dict[int, float]:
    totals: dict[int, list[float]] = {}
    for obs in train:
        totals.setdefault(obs.event.store_id, []).append(obs.sales)
    return {store: sum(values) / len(values) for store, values in totals.items()}


def evaluate(model: Model, train: Sequence[Observation], holdout: Sequence[Observation]) -> dict[str, float]:
    """Holdout RMSE and MAPE of the model and of the per-store training mean."""
    actual = [obs.sales for obs in holdout]
    predicted = [model.predict(obs.event) for obs in holdout]
    means = store_means(train)
    baseline = [means[obs.event.store_id] for obs in holdout]
    return {
        "holdout_rmse": round(rmse(actual, predicted), 4),
        "holdout_mape": round(mape(actual, predicted), 4),
        "baseline_rmse": round(rmse(actual, baseline), 4),
        "baseline_mape": round(mape(actual, baseline), 4),
        "train_rows": len(train),
        "holdout_rows": len(holdout),
    }


def train(run_id: str, config: DataConfig) -> tuple[Model, dict[str, Any]]:
    """Generate, split, fit and evaluate; the model and the model.json document describing it."""
    observations = generate_sales(config)
    train_rows, holdout = split_by_time(observations, HOLDOUT_DAYS)
    spec = FeatureSpec(stores=tuple(sorted({obs.event.store_id for obs in observations})))
    model = Model(run_id=run_id, spec=spec, coefficients=tuple(fit_ridge(spec, train_rows, RIDGE_LAMBDA)))
    document = {
        "format_version": FORMAT_VERSION,
        "run_id": run_id,
        "trained_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "feature_spec": spec.to_json(),
        "coefficients": list(model.coefficients),
        "metrics": evaluate(model, train_rows, holdout),
        "training": {
            "seed": config.seed,
            "stores": config.stores,
            "days": config.days,
            "holdout_days": HOLDOUT_DAYS,
            "ridge_lambda": RIDGE_LAMBDA,
            "start_date": START_DATE.isoformat(),
        },
    }
    return model, document


def split_s3_url(url: str) -> tuple[str, str]:
    """s3://BUCKET/PREFIX -> (BUCKET, PREFIX); the prefix may be empty."""
    if not url.startswith("s3://") or not url[5:].split("/", 1)[0]:
        raise ValueError(f"expected s3://BUCKET/PREFIX, got {url!r}")
    bucket, _, prefix = url[5:].partition("/")
    return bucket, prefix


def upload(body: bytes, url: str, run_id: str) -> str:
    import boto3  # only --upload needs it; training itself is standard library only

    bucket, prefix = split_s3_url(url)
    key = f"{prefix}{run_id}/model.json"
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    return f"s3://{bucket}/{key}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train the store-sales model and write model.json.")
    parser.add_argument("--run-id", required=True, help="identifier of this training run")
    parser.add_argument("--out", required=True, type=Path, help="directory for model.json")
    parser.add_argument("--seed", type=int, default=DataConfig.seed, help="seed of the synthetic data")
    parser.add_argument("--upload", metavar="s3://BUCKET/PREFIX", help="also put PREFIX+RUN/model.json there")
    args = parser.parse_args(argv)
    if "/" in args.run_id or not args.run_id.strip():
        parser.error("--run-id must be a non-empty name without '/'")
    if args.upload:
        try:
            split_s3_url(args.upload)
        except ValueError as err:
            parser.error(str(err))

    _, document = train(args.run_id, DataConfig(seed=args.seed))
    body = (json.dumps(document, indent=2) + "\n").encode()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "model.json"
    path.write_bytes(body)
    print(json.dumps({"model": str(path), "run_id": args.run_id, **document["metrics"]}))
    if args.upload:
        print(json.dumps({"uploaded": upload(body, args.upload, args.run_id)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
