"""The notebook contract (CONVENTIONS §1, §2): tags survive nbdev_clean, one parameters cell, Claims tables, README."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from paper_repro.runner import paper_notebooks

ROOT = Path(__file__).resolve().parents[1]
PAPERS = paper_notebooks(ROOT)
BIN = Path(sys.executable).parent


def _cells(path):
    return json.loads(path.read_text())["cells"]


def test_there_are_paper_notebooks():
    assert {"pytorch_primitives"} <= set(PAPERS)


def test_parameters_tag_survives_nbdev_clean(tmp_path):
    nb = tmp_path / "nb.ipynb"
    shutil.copy(PAPERS["pytorch_primitives"], nb)
    data = json.loads(nb.read_text())
    data["cells"][3]["metadata"]["papermill"] = {"duration": 1.0}  # something nbdev_clean must strip
    nb.write_text(json.dumps(data))
    subprocess.run([str(BIN / "nbdev_clean"), "--fname", str(nb)], cwd=ROOT, check=True)
    cleaned = _cells(nb)
    assert sum("parameters" in c["metadata"].get("tags", []) for c in cleaned) == 1
    assert all("papermill" not in c["metadata"] for c in cleaned)


@pytest.mark.parametrize("paper", sorted(PAPERS))
def test_paper_notebook_contract(paper):
    path = PAPERS[paper]
    cells = _cells(path)
    params = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1, f"{path.name}: {len(params)} parameters cells"
    src = "".join(params[0]["source"])
    for required in ("profile", "device", "seed"): assert re.search(rf"^{required}\b", src, re.M), f"{path.name}: no {required} parameter"
    # papermill must understand every assignment in the parameters cell (it skips lines it cannot parse)
    assigned = re.findall(r"^(\w+)\s*(?::[^=]*)?=", src, re.M)
    assert sorted(pm.inspect_notebook(str(path))) == sorted(assigned), f"{path.name}: papermill could not parse some parameter lines"
    md = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert re.search(r"^#+ Claims", md, re.M) and re.search(r"^\| *id *\|", md, re.M), f"{path.name}: no Claims table"
    assert re.search(r"^#+ Discussion", md, re.M), f"{path.name}: no Discussion"
    assert "".join(cells[0]["source"]).splitlines()[2].startswith("> "), f"{path.name}: first cell needs a '> summary' line"
    exports = [c for c in cells if c["cell_type"] == "code" and "".join(c["source"]).startswith("#| default_exp")]
    assert len(exports) == 1 and f"default_exp {paper}" in "".join(exports[0]["source"]), f"{path.name} must export module {paper}"
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "res.write()" in code and "res.claim(" in code, f"{path.name}: claims not recorded"
    assert any(c.get("outputs") for c in cells if c["cell_type"] == "code"), f"{path.name}: committed without quick-run outputs"


def test_each_notebook_exports_its_own_module():
    mods = []
    for p in sorted((ROOT / "nbs").glob("*.ipynb")):
        mods += [m for c in _cells(p) for m in re.findall(r"^#\| default_exp (\S+)", "".join(c["source"]), re.M)]
    assert len(mods) == len(set(mods)), f"two notebooks export into one module: {mods}"


def test_readme_is_rendered_from_index(tmp_path):
    from nbconvert import MarkdownExporter
    body, _ = MarkdownExporter().from_notebook_node(nbformat.read(ROOT / "nbs" / "index.ipynb", as_version=4))
    assert (ROOT / "README.md").read_text() == body, "README.md is stale: run `make readme`"
