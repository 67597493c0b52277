"""Build :class:`Instrument` definitions from the reviewed TOML files.

A malformed data file is a programming error, so it fails loudly here (``ValueError``
naming the file and field) rather than producing a wrong score later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, cast, get_args

from hipspine.clinical import _data
from hipspine.clinical.instruments._model import (
    AnswerOption,
    Band,
    ChangeThreshold,
    Direction,
    Instrument,
    Item,
    Licence,
    Loinc,
    MissingDataRule,
    Subscale,
    ThresholdKind,
    ThresholdUnit,
)
from hipspine.clinical.vocabulary import rated_regions

INSTRUMENT_IDS: tuple[str, ...] = (
    "nprs",
    "odi",
    "odi_modified",
    "hoos",
    "lefs",
    "psfs",
    "groc",
    "start_back",
)
"""Every instrument shipped, in the order forms list them."""


class _Fields:
    """Typed access to one TOML table, with errors naming the file and field."""

    def __init__(self, where: str, table: Mapping[str, Any]):
        self.where = where
        self.table = table

    def _get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.table:
            if default is ...:
                raise ValueError(f"{self.where}: missing field {key!r}")
            return default
        value = self.table[key]
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            raise ValueError(f"{self.where}: field {key!r} must be a number, not a boolean")
        if not isinstance(value, kind):
            raise ValueError(f"{self.where}: field {key!r} has the wrong type ({value!r})")
        return value

    def text(self, key: str, default: str | None = None) -> str:
        return cast(str, self._get(key, str, ... if default is None else default))

    def flag(self, key: str) -> bool:
        return cast(bool, self._get(key, bool))

    def integer(self, key: str) -> int:
        return cast(int, self._get(key, int))

    def number(self, key: str) -> float:
        return float(self._get(key, (int, float)))

    def texts(self, key: str, default: Sequence[str] | None = None) -> tuple[str, ...]:
        values = self._get(key, list, ... if default is None else list(default))
        if not all(isinstance(v, str) for v in values):
            raise ValueError(f"{self.where}: field {key!r} must be a list of strings")
        return tuple(values)

    def table_of(self, key: str) -> _Fields:
        return _Fields(f"{self.where}.{key}", self._get(key, dict))

    def tables(self, key: str) -> list[_Fields]:
        values = self._get(key, list, [])
        return [_Fields(f"{self.where}.{key}[{i}]", v) for i, v in enumerate(values)]


def _options(where: str, raw: Sequence[Any]) -> tuple[AnswerOption, ...]:
    options: list[AnswerOption] = []
    for index, entry in enumerate(raw):
        if isinstance(entry, str):
            options.append(AnswerOption(value=index, score=index, label=entry))
        elif isinstance(entry, dict):
            f = _Fields(f"{where}[{index}]", entry)
            options.append(AnswerOption(f.integer("value"), f.integer("score"), f.text("label")))
        else:
            raise ValueError(f"{where}[{index}]: an option is a label or a table")
    values = [o.value for o in options]
    if len(set(values)) != len(values):
        raise ValueError(f"{where}: option values must be unique")
    return tuple(options)


def _scale(where: str, scale: _Fields) -> tuple[AnswerOption, ...]:
    low, high = scale.integer("min"), scale.integer("max")
    anchors = scale.table_of("anchors").table
    return tuple(
        AnswerOption(value=v, score=v, label=str(anchors.get(str(v), v)))
        for v in range(low, high + 1)
    )


def _region_ids() -> tuple[str, ...]:
    return tuple(rated_regions())


def _item(doc: _Fields, f: _Fields) -> Item:
    kind = f.text("kind", "choice")
    if kind == "context":
        source = f.text("allowed_from", "")
        if source == "regions":
            allowed = _region_ids()
        elif source:
            raise ValueError(f"{f.where}: unknown allowed_from {source!r}")
        else:
            allowed = f.texts("allowed")
        return Item(
            id=f.text("id"),
            text=f.text("text"),
            text_verified=f.flag("text_verified"),
            kind="context",
            options=(),
            allowed_text=allowed,
        )
    if kind != "choice":
        raise ValueError(f"{f.where}: kind must be 'choice' or 'context'")
    if "options" in f.table:
        options = _options(f"{f.where}.options", f.table["options"])
    elif "option_set" in f.table:
        name = f.text("option_set")
        options = _options(f"{doc.where}.option_sets.{name}", doc.table["option_sets"][name])
    elif "scale" in f.table:
        name = f.text("scale")
        options = _scale(f.where, doc.table_of("scales").table_of(name))
    else:
        raise ValueError(f"{f.where}: a choice item needs options, option_set or scale")
    return Item(
        id=f.text("id"),
        text=f.text("text"),
        text_verified=f.flag("text_verified"),
        kind="choice",
        options=options,
        section=f.text("section", "") or None,
    )


def _threshold(f: _Fields) -> ChangeThreshold:
    kind = f.text("kind")
    unit = f.text("unit")
    if kind not in get_args(ThresholdKind):
        raise ValueError(f"{f.where}: unknown threshold kind {kind!r}")
    if unit not in get_args(ThresholdUnit):
        raise ValueError(f"{f.where}: unknown threshold unit {unit!r}")
    return ChangeThreshold(
        kind=cast(ThresholdKind, kind),
        value=f.number("value"),
        unit=cast(ThresholdUnit, unit),
        scope=f.text("scope"),
        source=f.text("source"),
        population=f.text("population"),
        preferred=f.flag("preferred"),
        verified=f.flag("verified"),
        confidence=f.text("confidence", ""),
        note=f.text("note", ""),
    )


def build(instrument_id: str) -> Instrument:
    """Return the instrument defined in ``data/instruments/<instrument_id>.toml``."""
    doc = _Fields(f"instruments/{instrument_id}.toml", _data.load(f"instruments/{instrument_id}"))
    if doc.text("id") != instrument_id:
        raise ValueError(f"{doc.where}: id must be {instrument_id!r}")
    scoring = doc.table_of("scoring")
    missing = doc.table_of("missing_data")
    marks = missing.text("multiple_marks")
    if marks not in ("reject", "highest"):
        raise ValueError(f"{missing.where}: multiple_marks must be 'reject' or 'highest'")
    licence = doc.table_of("licence")
    items = tuple(_item(doc, f) for f in doc.tables("items"))
    item_ids = [i.id for i in items]
    if len(set(item_ids)) != len(item_ids):
        raise ValueError(f"{doc.where}: item ids must be unique")
    subscales = tuple(
        Subscale(
            id=f.text("id"),
            name=f.text("name"),
            items=f.texts("items"),
            minimum_answered=f.integer("minimum_answered"),
            loinc=f.text("loinc", ""),
        )
        for f in doc.tables("subscales")
    )
    for subscale in subscales:
        unknown = set(subscale.items) - set(item_ids)
        if unknown:
            raise ValueError(f"{doc.where}: subscale {subscale.id} names unknown {unknown}")
    thresholds = tuple(_threshold(f) for f in doc.tables("thresholds"))
    scopes = {"score", "single_item", *(s.id for s in subscales)}
    for threshold in thresholds:
        if threshold.scope not in scopes:
            raise ValueError(f"{doc.where}: threshold scope {threshold.scope!r} is unknown")
    extra: dict[str, object] = {}
    if "risk" in doc.table:
        extra["risk"] = MappingProxyType(dict(doc.table["risk"]))
    context_defaults = {
        f.text("id"): f.text("default") for f in doc.tables("items") if "default" in f.table
    }
    if context_defaults:
        extra["context_defaults"] = MappingProxyType(context_defaults)
    return Instrument(
        id=instrument_id,
        name=doc.text("name"),
        short_name=doc.text("short_name"),
        version=doc.text("version"),
        language=doc.text("language"),
        recall_period=doc.text("recall_period"),
        instructions=doc.text("instructions"),
        instructions_verified=doc.flag("instructions_verified"),
        direction=Direction(doc.text("direction")),
        score_min=doc.number("score_min"),
        score_max=doc.number("score_max"),
        unit=doc.text("unit"),
        scoring_rule=scoring.text("rule"),
        rounding=scoring.text("rounding"),
        missing_data=MissingDataRule(
            id=missing.text("id"),
            rule=missing.text("rule"),
            minimum_answered=missing.integer("minimum_answered"),
            follows=missing.text("follows"),
            disagreement=missing.text("disagreement"),
            multiple_marks=cast(Any, marks),
        ),
        items=items,
        subscales=subscales,
        bands=tuple(
            Band(f.text("id"), f.text("label"), f.number("upper"), f.text("source"))
            for f in doc.tables("bands")
        ),
        thresholds=thresholds,
        licence=Licence(
            notice=licence.text("notice"),
            terms=licence.text("terms"),
            requires_permission_for=licence.texts("requires_permission_for"),
            free_for=licence.texts("free_for"),
            verified=licence.flag("verified"),
            source=licence.text("source"),
        ),
        loinc=tuple(
            Loinc(
                f.text("code"),
                f.text("display"),
                f.text("target"),
                f.flag("verified"),
                f.text("source"),
            )
            for f in doc.tables("loinc")
        ),
        source=doc.text("source"),
        text_source=doc.text("text_source"),
        banding="rule" if "risk" in doc.table else "score",
        extra=MappingProxyType(extra),
    )
