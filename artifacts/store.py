"""An artifact on disk: write it atomically, load it with every file verified.

Layout of an artifact directory::

    manifest.json          what, on what, how well; SHA-256 and size of every other file
    xgboost.ubj            the booster in XGBoost's own UBJSON format (Booster.save_raw("ubj"))
    isolation_forest.npz   the forest as plain arrays (np.load with allow_pickle=False)
    report.md, *.png       written later by evaluation; not part of the checksummed model

Nothing is ever unpickled. The version is ``xgb-if-<YYYYMMDD>-<hash>``, where the hash covers
the model files, the feature names, the ensemble and the thresholds (not the creation time), so
retraining with the same data and seed reproduces the same version on the same day.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import msgspec
import xgboost as xgb

from artifacts.isolation_forest import CompiledForest, ForestArrays, forest_from_npz, forest_to_npz
from artifacts.manifest import (
    ISOLATION_FOREST_FILE,
    MANIFEST_FILE,
    XGBOOST_FILE,
    FileDigest,
    Manifest,
    decode_manifest,
    encode_manifest,
)
from artifacts.runtime import LoadedModel
from core.errors import InvalidInputError, ModelArtifactError

_MODEL_FILES = (XGBOOST_FILE, ISOLATION_FOREST_FILE)


def write_artifact(
    directory: Path,
    manifest: Manifest,
    xgboost_model: bytes,
    forest: ForestArrays,
    *,
    overwrite: bool = False,
) -> Manifest:
    """Write an artifact; ``manifest.version`` and ``manifest.files`` are filled in here.

    The files are written to a sibling temporary directory and renamed into place, so a reader
    never sees half an artifact. An existing ``directory`` is replaced only with ``overwrite``
    and only when it is empty or an artifact itself (it has a manifest).
    """
    contents = {XGBOOST_FILE: xgboost_model, ISOLATION_FOREST_FILE: forest_to_npz(forest)}
    files = {
        name: FileDigest(sha256=hashlib.sha256(raw).hexdigest(), size_bytes=len(raw))
        for name, raw in contents.items()
    }
    final = msgspec.structs.replace(manifest, files=files, version=_version(manifest, files))
    check_destination(directory, overwrite=overwrite)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.parent / f".{directory.name}.tmp-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    for name, raw in contents.items():
        (staging / name).write_bytes(raw)
    (staging / MANIFEST_FILE).write_bytes(encode_manifest(final))
    if directory.exists():
        retired = directory.parent / f".{directory.name}.old-{os.getpid()}"
        directory.rename(retired)
        staging.rename(directory)
        shutil.rmtree(retired)
    else:
        staging.rename(directory)
    return final


def load_artifact(
    directory: Path,
    expected_feature_names: Sequence[str] | None = None,
    *,
    expected_fx_version: str | None = None,
    n_threads: int = 1,
) -> LoadedModel:
    """Load and verify an artifact; raise :class:`ModelArtifactError` naming what is wrong.

    Checks: the manifest parses, every listed file exists with its recorded size and SHA-256, the
    booster and forest agree with the manifest's features, (when given) the feature names
    equal ``expected_feature_names`` in order, and (when given, and when the manifest records
    one) its ``fx_version`` equals ``expected_fx_version``: amounts converted with other rates
    are other features. ``n_threads`` is XGBoost's prediction threads.
    """
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ModelArtifactError(f"{directory}: no {MANIFEST_FILE}; not a model artifact")
    manifest = decode_manifest(manifest_path.read_bytes(), source=str(manifest_path))
    if expected_feature_names is not None:
        _check_feature_names(manifest, list(expected_feature_names), manifest_path)
    if (
        expected_fx_version is not None
        and manifest.fx_version is not None
        and manifest.fx_version != expected_fx_version
    ):
        raise ModelArtifactError(
            f"{manifest_path}: the model was trained with FX table {manifest.fx_version!r}, the "
            f"engine converts amounts with FX table {expected_fx_version!r}: retrain it, or "
            "configure the FX file it was trained with (fx_file)"
        )
    contents = _verified_files(directory, manifest)
    booster = _load_booster(contents[XGBOOST_FILE], directory / XGBOOST_FILE, manifest, n_threads)
    forest_path = directory / ISOLATION_FOREST_FILE
    arrays = forest_from_npz(contents[ISOLATION_FOREST_FILE], source=str(forest_path))
    if arrays.n_features != len(manifest.feature_names):
        raise ModelArtifactError(
            f"{forest_path}: forest expects {arrays.n_features} features, "
            f"the manifest lists {len(manifest.feature_names)}"
        )
    return LoadedModel(manifest, booster, CompiledForest(arrays), directory, n_threads=n_threads)


def artifact_checksum(directory: Path) -> str:
    """SHA-256 of the artifact's manifest, which records the SHA-256 of every other file: one
    value that pins the whole artifact (the model registry keeps it)."""
    manifest_path = directory / MANIFEST_FILE
    try:
        return hashlib.sha256(manifest_path.read_bytes()).hexdigest()
    except OSError as exc:
        raise ModelArtifactError(f"{directory}: cannot read {MANIFEST_FILE}: {exc}") from None


def load_pinned_artifact(
    directory: Path,
    checksum: str,
    expected_feature_names: Sequence[str] | None = None,
    *,
    expected_fx_version: str | None = None,
) -> LoadedModel:
    """:func:`load_artifact`, refusing an artifact whose manifest is not the one ``checksum``
    pins (the directory was overwritten or edited since it was registered)."""
    found = artifact_checksum(directory)
    if found != checksum:
        raise ModelArtifactError(
            f"{directory}: the artifact changed since it was registered "
            f"(manifest SHA-256 {found[:12]}…, registered {checksum[:12]}…)"
        )
    return load_artifact(directory, expected_feature_names, expected_fx_version=expected_fx_version)


def _version(manifest: Manifest, files: dict[str, FileDigest]) -> str:
    content = msgspec.json.encode(
        {
            "files": {name: digest.sha256 for name, digest in sorted(files.items())},
            "feature_names": manifest.feature_names,
            "ensemble": manifest.ensemble,
            "thresholds": manifest.thresholds,
        }
    )
    digest = hashlib.sha256(content).hexdigest()[:10]
    return f"xgb-if-{manifest.created_at:%Y%m%d}-{digest}"


def check_destination(directory: Path, *, overwrite: bool) -> None:
    """Raise :class:`InvalidInputError` unless an artifact may be written to ``directory``."""
    if not directory.exists():
        return
    if not directory.is_dir():
        raise InvalidInputError(f"{directory} exists and is not a directory")
    empty = not any(directory.iterdir())
    if empty:
        return
    if not overwrite:
        raise InvalidInputError(
            f"{directory} already exists and is not empty; choose another directory or overwrite"
        )
    if not (directory / MANIFEST_FILE).is_file():
        raise InvalidInputError(
            f"{directory} is not empty and is not a model artifact; refusing to replace it"
        )


def _check_feature_names(manifest: Manifest, expected: list[str], source: Path) -> None:
    actual = manifest.feature_names
    if actual == expected:
        return
    missing = [name for name in expected if name not in actual]
    extra = [name for name in actual if name not in expected]
    details = []
    if missing:
        details.append(f"missing {', '.join(missing)}")
    if extra:
        details.append(f"unexpected {', '.join(extra)}")
    if not details:
        details.append("same names in a different order")
    raise ModelArtifactError(
        f"{source}: the model's features do not match the feature specs ({'; '.join(details)}); "
        f"the model was trained with feature spec {manifest.feature_spec_version!r}: retrain it"
    )


def _verified_files(directory: Path, manifest: Manifest) -> dict[str, bytes]:
    unknown = [name for name in _MODEL_FILES if name not in manifest.files]
    if unknown:
        raise ModelArtifactError(f"{directory / MANIFEST_FILE}: files lacks {', '.join(unknown)}")
    contents = {}
    for name in _MODEL_FILES:
        digest = manifest.files[name]
        path = directory / name
        if not path.is_file():
            raise ModelArtifactError(f"{path}: listed in the manifest but missing")
        raw = path.read_bytes()
        actual = hashlib.sha256(raw).hexdigest()
        if len(raw) != digest.size_bytes or actual != digest.sha256:
            raise ModelArtifactError(
                f"{path}: corrupt (expected {digest.size_bytes} bytes with sha256 "
                f"{digest.sha256[:12]}…, found {len(raw)} bytes with sha256 {actual[:12]}…)"
            )
        contents[name] = raw
    return contents


def _load_booster(raw: bytes, path: Path, manifest: Manifest, n_threads: int) -> xgb.Booster:
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(raw))
    except xgb.core.XGBoostError as exc:
        raise ModelArtifactError(f"{path}: XGBoost cannot read it: {exc}") from None
    if booster.feature_names != manifest.feature_names:
        raise ModelArtifactError(
            f"{path}: the booster's feature names differ from the manifest's feature_names"
        )
    booster.set_param({"nthread": n_threads})
    return booster
