"""The wheel ships the instruments, the sample study, the notebooks and the report template,
and a non-editable install finds them (not the source checkout)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True)
    (whl,) = out.glob("mentor_eval-*.whl")
    return whl


def test_wheel_contains_the_data_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "mentor_eval/_instruments/adult_hope_scale.yaml",
        "mentor_eval/_instruments/general_belongingness_scale.yaml",
        "mentor_eval/_sample/study.yaml",
        "mentor_eval/_sample/responses.csv",
        "mentor_eval/_notebooks/evaluation_report.ipynb",
        "mentor_eval/templates/mentor_eval/index.html.j2",
    ):
        assert required in names, required
    n_yaml = sum(1 for n in names if n.startswith("mentor_eval/_instruments/") and n.endswith(".yaml"))
    assert n_yaml == len(list((ROOT / "instruments").glob("*.yaml")))


def test_installed_package_finds_its_files_outside_the_checkout(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import mentor_eval, mentor_eval.resources as r\n"
        "from mentor_eval import list_instruments, load_study\n"
        f"assert mentor_eval.__file__.startswith({str(site)!r}), mentor_eval.__file__\n"
        "assert r.instruments_dir().name == '_instruments'\n"
        "print(len(list_instruments()), load_study().name, r.notebooks_dir().name)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    n, *_ = proc.stdout.split()
    assert int(n) >= 12 and "_notebooks" in proc.stdout
