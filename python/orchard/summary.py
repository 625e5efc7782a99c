"""Summary: what a job did, as report/summary.json says it (typed fields for the keys
every job summary shares; the whole document in `raw`, so keys this class does not name
stay accessible: summary["training"], summary.training, summary.raw)."""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional


@dataclasses.dataclass(frozen=True)
class ImageCounts:
    """summary.json "images": the images listed, featurized (ok) and refused (failed)."""

    listed: Optional[int] = None
    ok: Optional[int] = None
    failed: Optional[int] = None
    reused_from_interrupted_run: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """summary.json "model": the embedding model and the output holding the embedding."""

    path: Optional[str] = None
    output: Optional[str] = None
    sha256: Optional[str] = None
    dim: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class PcaInfo:
    """summary.json "pca": the fitted PCA."""

    k: Optional[int] = None
    n: Optional[int] = None
    dim: Optional[int] = None
    variance_threshold: Optional[float] = None
    cumulative_explained_variance_ratio: Optional[float] = None


def _pick(cls, value: Any):
    if not isinstance(value, dict):
        return None
    # A key this job's summary lacks is None (predict's "model" has no "output", ...).
    return cls(**{field.name: value.get(field.name) for field in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class Summary:
    """The summary of one job: `orchard COMMAND --json` / OUTPUT/report/summary.json.

    Every field is None (or empty) when the job's summary has no such key (fit-pca has no
    `images`, train reports `training` instead, ...). Unknown keys: `summary["key"]` or
    `summary.key`; the whole document: `summary.raw`.
    """

    command: str
    output: Optional[str] = None
    input: Optional[str] = None
    orchard_version: Optional[str] = None
    threads: Optional[int] = None
    batch_size: Optional[int] = None
    model: Optional[ModelInfo] = None
    images: Optional[ImageCounts] = None
    images_per_second: Optional[float] = None
    pca: Optional[PcaInfo] = None
    seconds: Dict[str, float] = dataclasses.field(default_factory=dict)
    peak_rss_mib: Optional[float] = None
    raw: Dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, document: Dict[str, Any], command: Optional[str] = None) -> "Summary":
        """A Summary of a parsed summary.json (or of `--json`'s output); `command` names the
        job when the document does not (inspect's report, predict's file results)."""
        return cls(
            command=document.get("command") or command or "",
            output=document.get("output"),
            input=document.get("input"),
            orchard_version=document.get("orchard_version"),
            threads=document.get("threads"),
            batch_size=document.get("batch_size"),
            model=_pick(ModelInfo, document.get("model")),
            images=_pick(ImageCounts, document.get("images")),
            images_per_second=document.get("images_per_second"),
            pca=_pick(PcaInfo, document.get("pca")),
            seconds=dict(document.get("seconds") or {}),
            peak_rss_mib=document.get("peak_rss_mib"),
            raw=document,
        )

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)

    def __getattr__(self, key: str) -> Any:
        # Only reached for names that are not fields: the keys of the document.
        raw = self.__dict__.get("raw", {})
        if key in raw:
            return raw[key]
        raise AttributeError(f"the {self.__dict__.get('command', '')} summary has no '{key}'")


__all__ = ["ImageCounts", "ModelInfo", "PcaInfo", "Summary"]
