"""The store-sales model: sales events, the feature encoding and the prediction function.

One module shared by train.py (which fits and evaluates the model) and handler.py (which serves it), so the
numbers measured at training time are produced by exactly the code that answers in the Lambda.

The model is log-linear: log(1 + sales) = coefficients . features(event), so store level, weekday, promo and
season act as factors. The features: an intercept, one indicator per known store, one per weekday (Tuesday..
Sunday; Monday is the reference), the promo flag, and one yearly sine/cosine pair. A store the model never saw
gets no store term, so its prediction is the population level.
Standard library only: the Lambda image needs nothing beyond its base.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from typing import Any

FORMAT_VERSION = 1
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAYS_PER_YEAR = 365.25
_DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class SalesEvent:
    """One store on one day: what the input stream carries and what the model predicts from."""

    store_id: int
    date: dt.date
    promo: int


def parse_sales_event(payload: Any) -> SalesEvent:
    """Validate a decoded JSON sales event; ValueError names what is wrong."""
    if not isinstance(payload, dict):
        raise ValueError("a sales event must be a JSON object")
    store_id = payload.get("store_id")
    if not _is_int(store_id) or store_id < 0:
        raise ValueError("store_id must be a non-negative integer")
    promo = payload.get("promo")
    if not _is_int(promo) or promo not in (0, 1):
        raise ValueError("promo must be 0 or 1")
    return SalesEvent(store_id=store_id, date=parse_date(payload.get("date")), promo=promo)


def parse_date(value: Any) -> dt.date:
    """A calendar date written exactly as YYYY-MM-DD."""
    if not isinstance(value, str) or not _DATE_PATTERN.fullmatch(value):
        raise ValueError("date must be a string YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as err:
        raise ValueError(f"date {value!r} is not a calendar date") from err


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class FeatureSpec:
    """How an event becomes a feature vector; stored in model.json next to the coefficients."""

    stores: tuple[int, ...]

    def columns(self) -> list[str]:
        return (
            ["intercept"]
            + [f"store_{store}" for store in self.stores]
            + [f"weekday_{name}" for name in WEEKDAY_NAMES[1:]]
            + ["promo", "year_sin", "year_cos"]
        )

    def features(self, event: SalesEvent) -> list[float]:
        store_terms = [1.0 if event.store_id == store else 0.0 for store in self.stores]
        weekday = event.date.weekday()
        weekday_terms = [1.0 if weekday == day else 0.0 for day in range(1, 7)]
        angle = 2.0 * math.pi * event.date.toordinal() / DAYS_PER_YEAR
        return [1.0] + store_terms + weekday_terms + [float(event.promo), math.sin(angle), math.cos(angle)]

    def to_json(self) -> dict[str, Any]:
        return {"stores": list(self.stores), "weekday_reference": WEEKDAY_NAMES[0], "columns": self.columns()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureSpec:
        spec = cls(stores=tuple(int(store) for store in data["stores"]))
        if data.get("columns") != spec.columns():
            raise ValueError("feature columns in model.json do not match this code's encoding")
        return spec


@dataclass(frozen=True)
class Model:
    """A trained model: the feature spec and one coefficient per feature column."""

    run_id: str
    spec: FeatureSpec
    coefficients: tuple[float, ...]

    def predict(self, event: SalesEvent) -> float:
        """Predicted unit sales; never negative."""
        log_sales = sum(c * x for c, x in zip(self.coefficients, self.spec.features(event)))
        return max(0.0, math.expm1(log_sales))

    def coefficient(self, column: str) -> float:
        return self.coefficients[self.spec.columns().index(column)]


def model_from_json(data: dict[str, Any]) -> Model:
    """Read a parsed model.json; ValueError when it is not a model this code can serve."""
    if data.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"model format_version {data.get('format_version')!r}, this code reads {FORMAT_VERSION}")
    spec = FeatureSpec.from_json(data["feature_spec"])
    coefficients = tuple(float(value) for value in data["coefficients"])
    if len(coefficients) != len(spec.columns()):
        raise ValueError("model.json has a different number of coefficients than feature columns")
    return Model(run_id=str(data["run_id"]), spec=spec, coefficients=coefficients)


def load_model(raw: bytes | str) -> Model:
    """Parse the bytes of a model.json."""
    return model_from_json(json.loads(raw))
