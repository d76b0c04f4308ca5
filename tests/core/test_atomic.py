"""Output transactions: staged files appear together or not at all."""
from __future__ import annotations

from pathlib import Path

import pytest
from csbsr.core.atomic import Staging, check_output_file, check_output_folder
from csbsr.core.errors import InvalidInputError, OutputExistsError


def test_commit_moves_everything_and_removes_stale_results(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("old a")
    (out / "old_only.txt").write_text("stale")
    st = Staging(out, out / ".x.staging")
    st.path(out / "a.txt").write_text("new a")
    st.path(out / "b.txt").write_text("new b")
    st.commit(remove=[out / "a.txt", out / "old_only.txt"])
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "b.txt"]
    assert (out / "a.txt").read_text() == "new a"


def test_abort_keeps_earlier_results_and_leaves_no_new_folder(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "out"
    with pytest.raises(RuntimeError), Staging(out, out / ".x.staging") as st:
        st.path(out / "a.txt").write_text("half")
        raise RuntimeError("stage failed")
    assert not (tmp_path / "deep").exists()  # the folders it created are gone again
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "a.txt").write_text("earlier")
    with pytest.raises(RuntimeError), Staging(keep, keep / ".x.staging") as st:
        st.path(keep / "a.txt").write_text("half")
        raise RuntimeError("stage failed")
    assert [p.name for p in keep.iterdir()] == ["a.txt"]
    assert (keep / "a.txt").read_text() == "earlier"


def test_a_stale_staging_folder_is_reported_and_replaced(tmp_path: Path) -> None:
    (tmp_path / ".x.staging").mkdir()
    (tmp_path / ".x.staging" / "junk").write_text("killed run")
    st = Staging(tmp_path, tmp_path / ".x.staging")
    assert st.stale and list(st.dir.iterdir()) == []
    st.abort()


def test_output_checks_name_the_problem(tmp_path: Path) -> None:
    f = tmp_path / "file.tif"
    f.write_text("x")
    with pytest.raises(InvalidInputError, match="is a file"):
        check_output_folder(f)
    with pytest.raises(InvalidInputError, match="lies under the file"):
        check_output_folder(f / "sub")
    with pytest.raises(InvalidInputError, match="input"):
        check_output_file(f, overwrite=True, inputs=[f])
    with pytest.raises(OutputExistsError, match="--overwrite"):
        check_output_file(f, overwrite=False)
    with pytest.raises(InvalidInputError, match="does not exist"):
        check_output_file(tmp_path / "missing" / "x.gpkg", overwrite=False)
