"""`vigil train` / `vigil evaluate` take exactly one data source, --data FILE or --from-db; a bad
combination exits 2 naming the flags before anything is read."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cli.main import main


def run_main(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    """Run the real entry point; return the exit code and stderr."""
    monkeypatch.setattr(sys, "argv", ["vigil", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    code = exited.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "evaluate"])
@pytest.mark.parametrize(
    "case",
    [
        ([], "--data", "or --from-db"),
        (["--from-db", "--data", "DATA"], "--from-db", "cannot be combined with --data"),
    ],
)
def test_exactly_one_data_source(
    command: str,
    case: tuple[list[str], str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Neither or both of --data and --from-db: exit 2, the flag and why; no artifact, no
    database needed (the URL points nowhere)."""
    source, flag, message = case
    monkeypatch.setenv("VIGIL_DATABASE_URL", "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    data = tmp_path / "data.csv"
    data.write_text("transaction_id\n")
    model = tmp_path / "model"
    model.mkdir()
    args = [str(data) if a == "DATA" else a for a in source]
    where = ["--out", str(tmp_path / "out")] if command == "train" else ["--model", str(model)]
    code, err = run_main([command, *where, *args], monkeypatch, capsys)
    assert code == 2
    assert flag in err
    assert message in err
    assert not (tmp_path / "out").exists()
