"""The survey's parts without a model: inputs, worker sizing, settings, blocks, summary."""
from __future__ import annotations

from pathlib import Path

import pytest
from csbsr.core.errors import ConfigError, InvalidInputError


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_inputs_from_folder_glob_and_list(tmp_path: Path) -> None:
    from csbsr.core.survey.inputs import resolve_inputs

    a = _touch(tmp_path / "f" / "a.tif")
    b = _touch(tmp_path / "f" / "b.TIFF")
    _touch(tmp_path / "f" / "notes.txt")
    _touch(tmp_path / "f" / ".hidden.tif")
    c = _touch(tmp_path / "g" / "sub" / "c.jp2")
    lst = tmp_path / "list.txt"
    lst.write_text(f"# survey 2026\n\nf/a.tif\n{c}\n", encoding="utf-8")
    got = resolve_inputs([str(tmp_path / "f"), str(tmp_path / "g" / "**" / "*.jp2"), str(lst)])
    assert got == [a.resolve(), b.resolve(), c.resolve()]  # deduplicated, in order


def test_inputs_errors_name_the_problem(tmp_path: Path) -> None:
    from csbsr.core.survey.inputs import resolve_inputs

    with pytest.raises(InvalidInputError, match="does not exist"):
        resolve_inputs([str(tmp_path / "missing.tif")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="no orthophoto found"):
        resolve_inputs([str(tmp_path / "empty")])
    one = _touch(tmp_path / "x" / "site.tif")
    two = _touch(tmp_path / "y" / "site.tif")
    with pytest.raises(InvalidInputError, match="share the name 'site'"):
        resolve_inputs([str(one), str(two)])


@pytest.mark.parametrize("tasks, cores, workers, threads, expect", [
    (10, 2, None, None, (2, 1)),   # many orthophotos: one per core, 1 torch thread each
    (1, 2, None, None, (1, 2)),    # one orthophoto: every core as torch threads
    (3, 16, None, None, (3, 5)),   # fewer tasks than cores: the rest become threads
    (10, 16, None, 4, (4, 4)),     # --threads 4: 16 // 4 workers
    (10, 2, 1, None, (1, 2)),      # --workers 1
])
def test_worker_sizing_never_oversubscribes(tasks, cores, workers, threads, expect) -> None:
    from csbsr.core.survey.cluster import plan_workers

    plan = plan_workers(tasks, cores, workers, threads, memory=64 * 2**30)
    assert (plan.workers, plan.threads) == expect
    assert plan.workers * plan.threads <= cores
    assert plan.why


def test_worker_sizing_is_capped_by_memory() -> None:
    from csbsr.core.survey.cluster import WORKER_MEMORY, plan_workers

    plan = plan_workers(32, 32, memory=3 * WORKER_MEMORY)
    assert plan.workers == 3 and plan.threads == 10


def test_settings_fingerprint_ignores_speed_only_options() -> None:
    from csbsr.core.detect.config import InferenceConfig
    from csbsr.core.survey.config import SurveyConfig

    base = SurveyConfig()
    fast = SurveyConfig(inference=InferenceConfig(threads=7, overwrite=True), workers=3,
                        threads=2, split_mpix=1.0)
    other = SurveyConfig(inference=InferenceConfig(threshold=0.3))
    assert base.fingerprint("abc") == fast.fingerprint("abc")
    assert base.fingerprint("abc") != other.fingerprint("abc")
    assert base.fingerprint("abc") != base.fingerprint("abd")  # another model
    with pytest.raises(ConfigError, match="CRS"):
        SurveyConfig(crs="EPSG:not-a-code")
    with pytest.raises(ConfigError, match="workers"):
        SurveyConfig(workers=0)


def test_group_blocks_covers_every_unit_in_order() -> None:
    from csbsr.core.raster.tiling import group_blocks

    assert group_blocks([5, 5, 5, 5, 5], 10) == [(0, 2), (2, 4), (4, 5)]
    assert group_blocks([50, 1, 1], 10) == [(0, 1), (1, 3)]
    assert group_blocks([3], 1000) == [(0, 1)]
    assert group_blocks([], 10) == []


def test_summary_totals_and_html(tmp_path: Path) -> None:
    from csbsr.core.survey.summary import build_summary, render_html
    from csbsr.core.survey.tasks import RunRecord

    s1 = {"total_len_m": 2.0, "area_m2": 4.0, "density_m_m2": 0.5, "n_segments": 3,
          "len_by_type_sev_m": {"uncl": {"L": 1.5, "NR": 0.5}}}
    s2 = {"total_len_m": 1.0, "area_m2": 1.0, "density_m_m2": 1.0, "n_segments": 1,
          "len_by_type_sev_m": {"long": {"M": 1.0}}}
    recs = [RunRecord("a", "/d/a.tif", str(tmp_path / "runs" / "a"), "done", summary=s1,
                      seconds=2.0),
            RunRecord("b", "/d/b.tif", str(tmp_path / "runs" / "b"), "failed",
                      error="b.tif has no CRS: assign one <here>"),
            RunRecord("c", "/d/c.tif", str(tmp_path / "runs" / "c"), "skipped", summary=s2)]
    doc = build_summary(recs, tmp_path, {"where": "test"})
    t = doc["totals"]
    assert (t["n_done"], t["n_failed"], t["n_skipped"]) == (1, 1, 1)
    assert t["total_len_m"] == 3.0 and t["area_m2"] == 5.0 and t["density_m_m2"] == 0.6
    assert t["len_by_sev_m"] == {"L": 1.5, "M": 1.0, "H": 0.0, "NR": 0.5}
    assert doc["orthophotos"][0]["run"] == "runs/a"
    page = render_html(doc)
    assert "b.tif has no CRS: assign one &lt;here&gt;" in page  # escaped
    assert page.count("<tr") == 5  # header, 3 orthophotos, totals
