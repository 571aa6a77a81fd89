import math
import os
import re
from pathlib import Path

import pandas as pd
import pytest

from jacobench.bench import tidy


def raw_doc():
    def bench(strategy, median, iqr, **extra):
        return {
            "name": f"test_explicit[{strategy}]",
            "stats": {"median": median, "min": median * 0.9, "iqr": iqr, "rounds": 7},
            "extra_info": {
                "engine": "explicit",
                "backend": "numpy",
                "strategy": strategy,
                "widths": "3-4-5",
                "depth": 2,
                "d_0": 3,
                "d_L": 5,
                "model_macs": 60,
                "xla_flops": math.nan,
                "mem_model_bytes": 100,
                "mem_measured_bytes": 120,
                "mem_source": "tracemalloc",
                **extra,
            },
        }

    return {
        "benchmarks": [
            bench("forward", 1e-3, 5e-5, custom_note="kept"),
            bench("reverse", 2e-3, 5e-4),
        ]
    }


def test_columns_types_and_extra_info():
    skipped = [
        {
            "engine": "explicit",
            "strategy": "optimal",
            "widths": "9-9",
            "depth": 1,
            "model_macs": 0,
            "skip_reason": "predicted memory 1 GiB exceeds the budget 1 KiB",
        }
    ]
    frame = tidy.build_frame(raw_doc(), skipped, run_id="run-1")
    assert list(frame.columns[: len(tidy.COLUMNS)]) == list(tidy.COLUMNS)
    assert {"custom_note", "test"} <= set(frame.columns)  # extra_info and the test name kept
    assert frame.loc[0, "custom_note"] == "kept"
    assert (frame["run_id"] == "run-1").all()
    assert frame["model_macs"].dtype == "Int64"
    assert frame["time_median_s"].dtype == "float64"
    assert frame["unstable"].dtype == "boolean"
    assert frame["unstable"].tolist()[:2] == [False, True]  # 5% vs 25% IQR/median
    assert frame["rounds"].tolist()[:2] == [7, 7]
    assert frame["status"].tolist() == ["ok", "ok", "skipped"]
    assert frame.loc[2, "skip_reason"].startswith("predicted memory 1 GiB")
    assert pd.isna(frame.loc[2, "time_median_s"])
    assert frame.loc[0, "skip_reason"] == ""


def test_round_trip_through_csv(tmp_path):
    frame = tidy.build_frame(raw_doc(), [], run_id="r")
    path = tidy.write_atomic(tmp_path / "x.csv", frame.to_csv(index=False))
    back = pd.read_csv(path)
    assert back["model_macs"].tolist() == [60, 60]
    assert back["strategy"].tolist() == ["forward", "reverse"]


def test_write_atomic_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "latest.csv"
    target.write_text("old results\n")
    with pytest.raises(TypeError):
        tidy.write_atomic(target, None)  # type: ignore[arg-type]
    assert target.read_text() == "old results\n"
    assert os.listdir(tmp_path) == ["latest.csv"]  # no temporary file left behind


def test_written_files_have_the_usual_mode(tmp_path):
    path = tidy.write_atomic(tmp_path / "a.csv", "x\n")
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_bad_column_type_names_the_column():
    raw = raw_doc()
    raw["benchmarks"][0]["extra_info"]["model_macs"] = "lots"
    with pytest.raises(tidy.JacobenchError, match=r"column 'model_macs' cannot be read as Int64"):
        tidy.build_frame(raw, [], run_id="r")


README = Path(__file__).resolve().parents[2] / "results" / "README.md"
TYPE_NAMES = {"string": "str", "Int64": "int", "float64": "float", "boolean": "bool"}


def test_the_results_readme_documents_exactly_the_schema():
    section = README.read_text().split("## Columns of the CSV")[1].split("\n## ")[0]
    documented = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`"):
            documented += [(name, cells[1]) for name in re.findall(r"`([^`]+)`", cells[0])]
    schema = [(name, TYPE_NAMES[column.dtype]) for name, column in tidy.COLUMNS.items()]
    assert documented == schema


def test_every_column_is_text_a_number_or_a_flag():
    groups = (tidy.TEXT_COLUMNS, tidy.NUMBER_COLUMNS, tidy.FLAG_COLUMNS)
    assert sorted(sum(groups, ())) == sorted(tidy.COLUMNS)
    assert set(tidy.REQUIRED_COLUMNS) < set(tidy.COLUMNS)
    assert {"engine", "model_macs", "time_median_s", "status"} <= set(tidy.REQUIRED_COLUMNS)
    assert "unstable" in tidy.FLAG_COLUMNS and "depth" in tidy.NUMBER_COLUMNS
