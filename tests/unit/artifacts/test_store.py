"""Artifacts are written atomically and every file is verified when loaded."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from artifacts.manifest import ISOLATION_FOREST_FILE, MANIFEST_FILE, XGBOOST_FILE
from artifacts.store import load_artifact, write_artifact
from core.errors import InvalidInputError, ModelArtifactError
from tests.unit.artifacts.artifact_fixtures import FEATURES, Parts


def test_round_trip_keeps_manifest_and_scores(parts: Parts, artifact_dir: Path) -> None:
    """A loaded artifact has the written manifest, a version and checksums for its files."""
    model = load_artifact(artifact_dir, FEATURES)
    assert model.feature_names == FEATURES
    assert model.version.startswith("xgb-if-20250301-")
    assert set(model.manifest.files) == {XGBOOST_FILE, ISOLATION_FOREST_FILE}
    assert model.manifest.ensemble == parts.manifest.ensemble
    assert sorted(p.name for p in artifact_dir.iterdir()) == sorted(
        [MANIFEST_FILE, XGBOOST_FILE, ISOLATION_FOREST_FILE]
    )


def test_version_depends_on_content_not_on_time(parts: Parts, tmp_path: Path) -> None:
    """The same model written twice gets the same version and identical bytes."""
    raw = bytes(parts.booster.save_raw("ubj"))
    first = write_artifact(tmp_path / "a", parts.manifest, raw, parts.arrays)
    second = write_artifact(tmp_path / "b", parts.manifest, raw, parts.arrays)
    assert first.version == second.version
    for name in (MANIFEST_FILE, XGBOOST_FILE, ISOLATION_FOREST_FILE):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.parametrize("name", [XGBOOST_FILE, ISOLATION_FOREST_FILE])
def test_corrupt_file_is_named(artifact_dir: Path, name: str) -> None:
    """Changing one byte of a model file fails the load with that file's path."""
    path = artifact_dir / name
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelArtifactError, match=rf"{name}: corrupt"):
        load_artifact(artifact_dir)


def test_missing_file_is_named(artifact_dir: Path) -> None:
    """A model file listed in the manifest but absent fails the load."""
    (artifact_dir / ISOLATION_FOREST_FILE).unlink()
    with pytest.raises(ModelArtifactError, match=rf"{ISOLATION_FOREST_FILE}: listed .* missing"):
        load_artifact(artifact_dir)


def test_directory_without_manifest_is_not_an_artifact(tmp_path: Path) -> None:
    """An empty directory is reported as not a model artifact."""
    with pytest.raises(ModelArtifactError, match=r"no manifest\.json"):
        load_artifact(tmp_path)


def test_feature_mismatch_names_missing_and_unexpected(artifact_dir: Path) -> None:
    """Loading against other feature names lists what is missing and what is extra."""
    expected = [*FEATURES[:3], "amount_sum_by_account_1h"]
    with pytest.raises(ModelArtifactError) as caught:
        load_artifact(artifact_dir, expected)
    message = str(caught.value)
    assert "missing amount_sum_by_account_1h" in message
    assert "unexpected hour" in message


def test_feature_order_matters(artifact_dir: Path) -> None:
    """The same names in another order are a mismatch."""
    with pytest.raises(ModelArtifactError, match="different order"):
        load_artifact(artifact_dir, list(reversed(FEATURES)))


def test_unknown_manifest_field_is_rejected(artifact_dir: Path) -> None:
    """A manifest with a field Vigil does not know is refused with the field name."""
    path = artifact_dir / MANIFEST_FILE
    data = json.loads(path.read_text())
    data["surprise"] = 1
    path.write_text(json.dumps(data))
    with pytest.raises(ModelArtifactError, match="surprise"):
        load_artifact(artifact_dir)


def test_future_format_version_is_rejected(artifact_dir: Path) -> None:
    """A manifest of a newer format is refused, saying which format is supported."""
    path = artifact_dir / MANIFEST_FILE
    data = json.loads(path.read_text())
    data["format_version"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(ModelArtifactError, match="format_version 99 is not supported"):
        load_artifact(artifact_dir)


def test_manifest_that_is_not_json_is_rejected(artifact_dir: Path) -> None:
    """Truncated JSON is reported against manifest.json."""
    path = artifact_dir / MANIFEST_FILE
    path.write_text(path.read_text()[:50])
    with pytest.raises(ModelArtifactError, match=r"manifest.json: not valid JSON"):
        load_artifact(artifact_dir)


def test_existing_artifact_needs_overwrite(parts: Parts, artifact_dir: Path) -> None:
    """Writing over an artifact is refused unless asked, then replaces it."""
    raw = bytes(parts.booster.save_raw("ubj"))
    with pytest.raises(InvalidInputError, match="already exists"):
        write_artifact(artifact_dir, parts.manifest, raw, parts.arrays)
    (artifact_dir / "report.md").write_text("old report")
    write_artifact(artifact_dir, parts.manifest, raw, parts.arrays, overwrite=True)
    assert not (artifact_dir / "report.md").exists()
    assert load_artifact(artifact_dir).feature_names == FEATURES


def test_non_artifact_directory_is_never_replaced(parts: Parts, tmp_path: Path) -> None:
    """A non-empty directory without a manifest is left alone even with overwrite."""
    (tmp_path / "notes.txt").write_text("keep me")
    raw = bytes(parts.booster.save_raw("ubj"))
    with pytest.raises(InvalidInputError, match="not a model artifact"):
        write_artifact(tmp_path, parts.manifest, raw, parts.arrays, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_an_artifact_trained_with_another_fx_table_is_refused(parts: Parts, tmp_path: Path) -> None:
    """A manifest recording another FX table's version fails the load; one recording none (an
    artifact from before amounts were converted) and the same one load."""
    manifest = msgspec.structs.replace(parts.manifest, fx_version="aaaa")
    raw = bytes(parts.booster.save_raw("ubj"))
    directory = tmp_path / "fx"
    write_artifact(directory, manifest, raw, parts.arrays)
    assert load_artifact(directory, FEATURES, expected_fx_version="aaaa").manifest.fx_version
    with pytest.raises(ModelArtifactError, match="FX table 'aaaa'"):
        load_artifact(directory, FEATURES, expected_fx_version="bbbb")
    write_artifact(tmp_path / "old", parts.manifest, raw, parts.arrays)
    assert load_artifact(tmp_path / "old", FEATURES, expected_fx_version="bbbb") is not None
