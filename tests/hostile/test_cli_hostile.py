"""Hostile inputs to every ``csbsr`` sub-command, in this process (``main([...])``): each case
asserts the exit code, one clear error line and no traceback, nothing changed beside the
inputs, earlier results kept byte-identical and no partial file left."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple

import pytest
from conftest import check, copy_run, run_cli
from inputs import PWNED, copy_model, pickle_model, shipped_card, snapshot


class Ctx(NamedTuple):
    h: Dict[str, Path]  # the hostile rasters
    tmp: Path  # this case's folder
    run: Path  # a copy of an earlier good run, in tmp (the default --out of failing runs)


class C(NamedTuple):
    id: str
    entry: str
    what: str
    argv: Callable[[Ctx], List[Any]]
    rc: int
    match: str


def _card(tmp: Path, **change: Any) -> Path:
    """The shipped model with its card changed: keys set (None deletes), dotted keys nest."""
    doc = shipped_card()
    for key, value in change.items():
        node, *rest = key.split("__")
        target = doc
        if rest:
            target, node = doc[node], rest[0]
        if value is None:
            target.pop(node, None)
        else:
            target[node] = value
    return copy_model(tmp / "model", card=doc)


def _raw_card(tmp: Path, text: str) -> Path:
    m = copy_model(tmp / "model")
    m.with_suffix(".json").write_text(text, encoding="utf-8")
    return m


def _pickle_as_safetensors(tmp: Path) -> Path:
    """A pickle named .safetensors whose card carries its true SHA-256 (the loader reaches
    the weights, and must refuse them without unpickling)."""
    import hashlib

    pk = pickle_model(tmp / "p.pt", tmp / PWNED)
    card = shipped_card()
    card["weights"]["sha256"] = hashlib.sha256(pk.read_bytes()).hexdigest()
    return copy_model(tmp / "model", card=card, weights=pk.read_bytes())


def _truncated_weights(tmp: Path) -> Path:
    import hashlib

    from inputs import MODEL

    data = MODEL.read_bytes()[:5000]
    card = shipped_card()
    card["weights"]["sha256"] = hashlib.sha256(data).hexdigest()
    return copy_model(tmp / "model", card=card, weights=data)


def _file(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text, encoding="utf-8")
    return p


def R(inp: str, *extra: Any) -> Callable[[Ctx], List[Any]]:
    """``csbsr run <hostile input> --out <earlier run> --overwrite? extra``."""
    return lambda c: ["-q", "run", c.h[inp], "--out", c.run, "--no-report", *[
        e(c) if callable(e) else e for e in extra]]


OUT_EXISTS = "already exists"
RUN_CASES = [
    C("run-corrupt", "csbsr run", "corrupt GeoTIFF (random bytes after the header)",
      R("corrupt", "--overwrite"), 2, "corrupt"),
    C("run-truncated", "csbsr run", "truncated GeoTIFF (40 % of the file)",
      R("truncated", "--overwrite"), 2, "corrupt or truncated"),
    C("run-empty", "csbsr run", "empty file (0 bytes)", R("empty", "--overwrite"), 2,
      "not a raster"),
    C("run-text", "csbsr run", "text file named .tif", R("text", "--overwrite"), 2,
      "not a raster"),
    C("run-missing", "csbsr run", "input file does not exist",
      lambda c: ["run", c.tmp / "nope.tif", "--out", c.run], 2, "nope.tif"),
    C("run-folder", "csbsr run", "a folder as the input",
      lambda c: ["run", c.tmp, "--out", c.run], 2, ""),
    C("run-nocrs", "csbsr run", "no CRS", R("nocrs", "--overwrite"), 2, "no CRS"),
    C("run-webmerc", "csbsr run --overwrite", "Web Mercator (EPSG:3857) over earlier results",
      R("webmerc", "--overwrite"), 2, "Mercator"),
    C("run-rotated", "csbsr run", "rotated geotransform", R("rotated", "--overwrite"), 2,
      "rotated"),
    C("run-nogeo", "csbsr run", "no geotransform, no CRS", R("nogeo", "--overwrite"), 2,
      "no CRS"),
    C("run-1band", "csbsr run", "1-band raster", R("one_band", "--overwrite"), 2, "3 bands"),
    C("run-2band", "csbsr run", "2-band raster", R("two_band", "--overwrite"), 2, "3 bands"),
    C("run-coarse", "csbsr run", "real 15 cm orthophoto (too coarse)",
      R("coarse", "--overwrite"), 2, "too coarse"),
    C("run-huge-gsd", "csbsr run", "50 m pixels", R("huge_gsd", "--overwrite"), 2,
      "too coarse"),
    C("run-inf-gsd", "csbsr run", "infinite pixel size", R("nan_gsd", "--overwrite"), 2,
      "degenerate"),
    C("run-existing", "csbsr run", "earlier results, no --overwrite", R("good"), 2, OUT_EXISTS),
    C("run-out-is-input", "csbsr run", "--out equal to the input file",
      lambda c: ["run", c.h["good"], "--out", c.h["good"]], 2, "is a file"),
    C("run-out-under-file", "csbsr run", "--out under a regular file",
      lambda c: ["run", c.h["good"], "--out", c.h["good"] / "sub"], 2, "lies under the file"),
    C("run-threshold-7", "csbsr run", "--threshold 7", R("good", "--overwrite", "--threshold",
                                                          "7"), 2, "threshold"),
    C("run-seed-1.5", "csbsr run", "--seed-threshold 1.5",
      R("good", "--overwrite", "--seed-threshold", "1.5"), 2, "seed_threshold"),
    C("run-bands-9", "csbsr run", "--bands 1,2,9 on an RGB raster",
      R("good", "--overwrite", "--bands", "1,2,9"), 2, "band"),
    C("run-aoi-outside", "csbsr run", "--aoi outside the raster",
      R("good", "--overwrite", "--aoi", "0", "0", "1", "1"), 2, "aoi|AOI|extent"),
    C("run-gsd-negative", "csbsr run", "--gsd -1", R("good", "--overwrite", "--gsd", "-1"), 2,
      "gsd"),
    C("run-threads-0", "csbsr run", "--threads 0", R("good", "--overwrite", "--threads", "0"),
      2, "threads"),
    C("run-tile-8", "csbsr run", "--tile-px 8", R("good", "--overwrite", "--tile-px", "8"), 2,
      "tile_px"),
    C("run-value-range", "csbsr run", "--value-range 5 1",
      R("good", "--overwrite", "--value-range", "5", "1"), 2, "value_range"),
    C("run-device", "csbsr run", "--device cuda:7 (no such GPU)",
      R("good", "--overwrite", "--device", "cuda:7"), 2, "cuda|GPU|device"),
    C("run-aoi-polygon-missing", "csbsr run", "--aoi-polygon file does not exist",
      R("good", "--overwrite", "--aoi-polygon", lambda c: c.tmp / "none.wkt"), 2, "AOI"),
    C("run-aoi-polygon-garbage", "csbsr run", "--aoi-polygon file holds no WKT",
      R("good", "--overwrite", "--aoi-polygon", lambda c: _file(c.tmp, "a.wkt", "garbage")),
      2, "AOI"),
    C("run-aoi-polygon-line", "csbsr run", "--aoi-polygon holds a line, not a polygon",
      R("good", "--overwrite", "--aoi-polygon",
        lambda c: _file(c.tmp, "a.wkt", "LINESTRING (0 0, 1 1)")), 2, "polygon"),
]

CARD_CASES = [
    C("card-threshold-7", "csbsr run --model", "card: recommended_threshold 7",
      R("good", "--overwrite", "--model", lambda c: _card(c.tmp, recommended_threshold=7)),
      2, "recommended_threshold"),
    C("card-threshold-text", "csbsr run --model", "card: recommended_threshold \"0.5\"",
      R("good", "--overwrite", "--model",
        lambda c: _card(c.tmp, recommended_threshold="0.5")), 2, "recommended_threshold"),
    C("card-seed-below-threshold", "csbsr run --model",
      "card: recommended_seed_threshold below recommended_threshold",
      R("good", "--overwrite", "--model",
        lambda c: _card(c.tmp, recommended_seed_threshold=0.01)), 2,
      "recommended_seed_threshold"),
    C("card-value-scale-0", "csbsr run --model", "card: normalisation.value_scale 0",
      R("good", "--overwrite", "--model",
        lambda c: _card(c.tmp, normalisation__value_scale=0)), 2, "value_scale"),
    C("card-negative-gsd", "csbsr run --model", "card: input_gsd_m -0.008",
      R("good", "--overwrite", "--model", lambda c: _card(c.tmp, input_gsd_m=-0.008)), 2,
      "input_gsd_m"),
    C("card-huge-halo", "csbsr run --model", "card: halo_lr_px 100000",
      R("good", "--overwrite", "--model", lambda c: _card(c.tmp, halo_lr_px=100000)), 2,
      "halo_lr_px"),
    C("card-no-model", "csbsr run --model", "card without the key model",
      R("good", "--overwrite", "--model", lambda c: _card(c.tmp, model=None)), 2,
      "missing key 'model'"),
    C("card-no-scale", "csbsr run --model", "card without model.scale",
      R("good", "--overwrite", "--model", lambda c: _card(c.tmp, model__scale=None)), 2,
      "model.scale"),
    C("card-no-threshold", "csbsr run --model", "card without recommended_threshold",
      R("good", "--overwrite", "--model",
        lambda c: _card(c.tmp, recommended_threshold=None)), 2, "recommended_threshold"),
    C("card-unknown-key", "csbsr run --model", "card with an unknown key",
      R("good", "--overwrite", "--model", lambda c: _card(c.tmp, surprise=1)), 2, "surprise"),
    C("card-version-99", "csbsr run --model", "card format_version 99",
      R("good", "--overwrite", "--model", lambda c: _card(c.tmp, format_version=99)), 2,
      "version"),
    C("card-not-json", "csbsr run --model", "card is not JSON",
      R("good", "--overwrite", "--model", lambda c: _raw_card(c.tmp, "{not json")), 2,
      "corrupt"),
    C("card-json-list", "csbsr run --model", "card is a JSON list",
      R("good", "--overwrite", "--model", lambda c: _raw_card(c.tmp, "[1, 2]")), 2,
      "not a CSBSR model card"),
    C("card-arch-unknown", "csbsr run --model", "card names an unknown architecture",
      R("good", "--overwrite", "--model",
        lambda c: _card(c.tmp, model__seg={"arch": "resnet9000"})), 2, "arch|resnet9000"),
    C("card-sha-mismatch", "csbsr run --model", "weights that do not match the card's SHA-256",
      R("good", "--overwrite", "--model",
        lambda c: copy_model(c.tmp / "model", weights=b"\0" * 64)), 2, "SHA-256"),
    C("card-no-weights", "csbsr run --model", "card without its weights file",
      R("good", "--overwrite", "--model", lambda c: c.tmp / "none.safetensors"), 2,
      "not found"),
    C("model-pickle-pt", "csbsr run --model", "a booby-trapped pickle (.pt)",
      R("good", "--overwrite", "--model", lambda c: pickle_model(c.tmp / "m.pt",
                                                                 c.tmp / PWNED)), 2, ""),
    C("model-pickle-renamed", "csbsr run --model",
      "a booby-trapped pickle named .safetensors, card with its SHA-256",
      R("good", "--overwrite", "--model", lambda c: _pickle_as_safetensors(c.tmp)), 2,
      "not safetensors"),
    C("model-truncated", "csbsr run --model", "truncated safetensors weights",
      R("good", "--overwrite", "--model", lambda c: _truncated_weights(c.tmp)), 2,
      "corrupt or not safetensors"),
]


def V(src: Callable[[Ctx], Any], out: Callable[[Ctx], Any], *extra: Any
      ) -> Callable[[Ctx], List[Any]]:
    return lambda c: ["-q", "vectorize", src(c), "--out", out(c), *[
        e(c) if callable(e) else e for e in extra]]


def _prob(c: Ctx) -> Path:
    return c.run / "good_prob.tif"


def _gpkg(c: Ctx) -> Path:
    return c.tmp / "lines.gpkg"


VECTORIZE_CASES = [
    C("vec-text", "csbsr vectorize", "text file named .tif", V(lambda c: c.h["text"], _gpkg),
      2, "cannot open"),
    C("vec-corrupt", "csbsr vectorize", "corrupt GeoTIFF", V(lambda c: c.h["corrupt"], _gpkg),
      2, "corrupt"),
    C("vec-truncated", "csbsr vectorize", "truncated GeoTIFF",
      V(lambda c: c.h["truncated"], _gpkg), 2, "corrupt"),
    C("vec-empty", "csbsr vectorize", "empty file", V(lambda c: c.h["empty"], _gpkg), 2,
      "cannot open"),
    C("vec-webmerc", "csbsr vectorize", "Web Mercator probability raster",
      V(lambda c: c.h["webmerc"], _gpkg), 2, "Mercator"),
    C("vec-nocrs", "csbsr vectorize", "raster without CRS", V(lambda c: c.h["nocrs"], _gpkg),
      2, "no CRS"),
    C("vec-out-txt", "csbsr vectorize", "--out with a .txt extension",
      V(_prob, lambda c: c.tmp / "lines.txt"), 2, r"\.gpkg"),
    C("vec-out-is-input", "csbsr vectorize", "--out equal to the input",
      V(_prob, _prob, "--overwrite"), 2, "input itself"),
    C("vec-out-under-file", "csbsr vectorize", "--out under a regular file",
      V(_prob, lambda c: c.h["good"] / "x.gpkg"), 2, "does not exist"),
    C("vec-out-no-folder", "csbsr vectorize", "--out in a missing folder",
      V(_prob, lambda c: c.tmp / "missing" / "x.gpkg"), 2, "does not exist"),
    C("vec-existing", "csbsr vectorize", "existing --out, no --overwrite",
      V(_prob, lambda c: c.run / "good_cracks.gpkg"), 2, OUT_EXISTS),
    C("vec-summary-exists", "csbsr vectorize", "existing --summary-json, no --overwrite",
      V(_prob, _gpkg, "--summary-json", lambda c: c.run / "good_summary.json"), 2,
      OUT_EXISTS),
    C("vec-threshold-2", "csbsr vectorize", "--threshold 2",
      V(_prob, _gpkg, "--threshold", "2"), 2, "threshold"),
    C("vec-window-0", "csbsr vectorize", "--window 0", V(_prob, _gpkg, "--window", "0"), 2,
      "window"),
    C("vec-custom-mm", "csbsr vectorize", "--custom-thresholds-mm without --standard custom",
      V(_prob, _gpkg, "--custom-thresholds-mm", "5,20"), 2, "custom"),
]


def _damaged_run(c: Ctx, name: str, data: str) -> Path:
    (c.run / name).write_text(data, encoding="utf-8")
    return c.run


def P(run: Callable[[Ctx], Any], *extra: Any,
      out: Callable[[Ctx], Any] = lambda c: c.tmp / "r.html") -> Callable[[Ctx], List[Any]]:
    return lambda c: ["-q", "report", run(c), "--out", out(c), *[
        e(c) if callable(e) else e for e in extra]]


REPORT_CASES = [
    C("report-summary-corrupt", "csbsr report", "corrupt _summary.json",
      P(lambda c: _damaged_run(c, "good_summary.json", "{not json")), 2, "damaged"),
    C("report-summary-list", "csbsr report", "_summary.json holding a JSON list",
      P(lambda c: _damaged_run(c, "good_summary.json", "[1, 2]")), 2, "JSON object"),
    C("report-run-json-corrupt", "csbsr report", "corrupt _run.json",
      P(lambda c: _damaged_run(c, "good_run.json", "{bad")), 2, "damaged"),
    C("report-run-json-empty", "csbsr report", "empty _run.json",
      P(lambda c: _damaged_run(c, "good_run.json", "")), 2, "damaged"),
    C("report-gpkg-corrupt", "csbsr report", "corrupt _cracks.gpkg",
      P(lambda c: _damaged_run(c, "good_cracks.gpkg", "garbage" * 10)), 2, "damaged"),
    C("report-empty-folder", "csbsr report", "a folder without a run",
      P(lambda c: (c.tmp / "empty").mkdir() or c.tmp / "empty"), 2,
      "no finished run"),
    C("report-missing-folder", "csbsr report", "run folder does not exist",
      P(lambda c: c.tmp / "nope"), 2, "does not exist"),
    C("report-out-under-file", "csbsr report", "--out under a regular file",
      P(lambda c: c.run, out=lambda c: c.h["good"] / "r.html"), 2, "does not exist"),
    C("report-existing", "csbsr report", "existing report, no --overwrite",
      P(lambda c: c.run, out=lambda c: c.run / "good_report.html"), 2, OUT_EXISTS),
    C("report-top-0", "csbsr report", "--top 0", P(lambda c: c.run, "--top", "0"), 2, "--top"),
    C("report-zones-missing", "csbsr report", "--zones file does not exist",
      P(lambda c: c.run, "--zones", lambda c: c.tmp / "z.gpkg"), 2, "does not exist"),
    C("report-zones-text", "csbsr report", "--zones is a text file",
      P(lambda c: c.run, "--zones", lambda c: c.h["text"]), 2, "zones file"),
    C("report-zones-and-size", "csbsr report", "--zones with --zone-size",
      P(lambda c: c.run, "--zones", lambda c: c.h["text"], "--zone-size", "1"), 2,
      "exclude each other"),
    C("report-stem-missing", "csbsr report", "--stem of no run in the folder",
      P(lambda c: c.run, "--stem", "other"), 2, "--stem"),
]


def T(init: Callable[[Ctx], Any]) -> Callable[[Ctx], List[Any]]:
    return lambda c: ["-q", "train", "--out", c.tmp / "train", "--init", init(c)]


TRAIN_CASES = [
    C("train-init-text", "csbsr train --init", "a text file named .safetensors",
      T(lambda c: _file(c.tmp, "w.safetensors", "hello")), 2, "not a safetensors"),
    C("train-init-pickle", "csbsr train --init", "a booby-trapped pickle named .safetensors",
      T(lambda c: Path(shutil.copyfile(pickle_model(c.tmp / "p.pt", c.tmp / PWNED),
                                       c.tmp / "w.safetensors"))), 2, "not a safetensors"),
    C("train-init-missing", "csbsr train --init", "--init file does not exist",
      T(lambda c: c.tmp / "none.safetensors"), 2, "does not exist"),
    C("train-init-truncated", "csbsr train --init", "truncated safetensors",
      T(lambda c: Path(shutil.copyfile(_truncated_weights(c.tmp), c.tmp / "w.safetensors"))),
      2, "not a safetensors"),
]


def K(old: Callable[[Ctx], Any], new: Callable[[Ctx], Any],
      out: Callable[[Ctx], Any] = lambda c: c.tmp / "cmp") -> Callable[[Ctx], List[Any]]:
    return lambda c: ["-q", "compare", old(c), new(c), "--out", out(c), "--no-report"]


COMPARE_CASES = [
    C("compare-missing", "csbsr compare", "NEW folder does not exist",
      K(lambda c: c.run, lambda c: c.tmp / "nope"), 2, "not a folder"),
    C("compare-gpkg-corrupt", "csbsr compare", "OLD run with a corrupt crack layer",
      K(lambda c: _damaged_run(c, "good_cracks.gpkg", "garbage"), lambda c: c.run), 2,
      "cannot read"),
    C("compare-out-is-file", "csbsr compare", "--out is a regular file",
      K(lambda c: c.run, lambda c: c.run, out=lambda c: c.h["good"]), 2, "is a file"),
    C("compare-out-under-file", "csbsr compare", "--out under a regular file",
      K(lambda c: c.run, lambda c: c.run, out=lambda c: c.h["good"] / "x"), 2,
      "lies under the file"),
    C("compare-empty", "csbsr compare", "OLD folder without a run",
      K(lambda c: (c.tmp / "e").mkdir() or c.tmp / "e", lambda c: c.run), 2,
      "no finished run"),
    C("compare-out-is-old", "csbsr compare", "--out is the OLD run folder",
      K(lambda c: c.run, lambda c: c.run, out=lambda c: c.run), 2, "OLD inspection"),
]


def S(*inp: Callable[[Ctx], Any], out: Callable[[Ctx], Any] = lambda c: c.tmp / "survey",
      extra: tuple = ("--workers", "1")) -> Callable[[Ctx], List[Any]]:
    return lambda c: ["-q", "survey", *[i(c) for i in inp], "--out", out(c), *extra]


SURVEY_CASES = [
    C("survey-text", "csbsr survey", "its only orthophoto is a text file",
      S(lambda c: c.h["text"]), 2, "no orthophoto could be inspected"),
    C("survey-webmerc", "csbsr survey", "its only orthophoto is in Web Mercator",
      S(lambda c: c.h["webmerc"]), 2, "no orthophoto could be inspected"),
    C("survey-empty-folder", "csbsr survey", "a folder without orthophotos",
      S(lambda c: (c.tmp / "e").mkdir() or c.tmp / "e"), 2, "no orthophoto"),
    C("survey-list-missing", "csbsr survey", "a list file naming a missing orthophoto",
      S(lambda c: _file(c.tmp, "list.txt", str(c.tmp / "missing.tif") + "\n")), 2, ""),
    C("survey-out-under-file", "csbsr survey", "--out under a regular file",
      S(lambda c: c.h["good"], out=lambda c: c.h["good"] / "s"), 2, "lies under the file"),
    C("survey-workers-0", "csbsr survey", "--workers 0",
      S(lambda c: c.h["good"], extra=("--workers", "0")), 2, "workers"),
]

ALL = (RUN_CASES + CARD_CASES + VECTORIZE_CASES + REPORT_CASES + TRAIN_CASES + COMPARE_CASES
       + SURVEY_CASES)


@pytest.mark.parametrize("c", ALL, ids=[c.id for c in ALL])
def test_refused_cleanly(c: C, case: Any, hostile: Dict[str, Path], earlier_run: Path,
                         tmp_path: Path, one_thread: None) -> None:
    run = copy_run(earlier_run, tmp_path / "earlier")
    ctx = Ctx(hostile, tmp_path, run)
    argv = c.argv(ctx)
    case.describe(c.entry, c.what, f"exit {c.rc}" + (f", '{c.match}'" if c.match else ""))
    inputs_dir = hostile["good"].parent
    before_in = snapshot(inputs_dir)
    before_out = snapshot(run)
    rc = run_cli(argv, case)
    check(case, c.rc, c.match or None, inputs_before=before_in, inputs_dir=inputs_dir,
          outputs=run, outputs_before=before_out)
    for fresh in ("cmp", "survey", "train", "lines.gpkg", "r.html"):
        if c.rc == 2 and fresh != "survey":
            assert not (tmp_path / fresh).exists(), f"{fresh} was written by a refused run"
    assert not any(p.name == PWNED for p in tmp_path.rglob("*")), "a pickle was unpickled"
    assert rc == c.rc
