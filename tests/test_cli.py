"""The paper-repro command line: usage errors, runs through papermill, determinism, failure handling."""
import json
import subprocess
import textwrap
from pathlib import Path

import nbformat
import pytest

from paper_repro.results import CLAIM_KEYS, RESULT_KEYS, VERDICTS, load_results


def run(cli, *args, cwd, env=None, timeout=600):
    return subprocess.run([cli, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args, needle", [
    (["run", "no_such_paper"], "unknown paper 'no_such_paper'; allowed:"),
    (["run", "pytorch_primitives", "-p", "no_such_param", "1"], "unknown parameter 'no_such_param'"),
    (["run", "pytorch_primitives", "-p", "steps", "ten"], "parameter 'steps' expects int or None, got 'ten'"),
    (["run", "pytorch_primitives", "-p", "profile", "huge"], "profile must be one of ['quick', 'full']"),
    (["run", "pytorch_primitives", "--update-notebooks", "-p", "seed", "1"], "drop the -p overrides"),
    (["run"], "give exactly one of PAPER or --all"),
])
def test_usage_errors_are_one_line_exit_2(cli, root, args, needle):
    r = run(cli, *args, cwd=root)
    assert r.returncode == 2, r
    assert needle in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr


def test_list_shows_every_paper(cli, root):
    from paper_repro.runner import paper_notebooks
    r = run(cli, "list", cwd=root)
    assert r.returncode == 0, r.stderr
    for name in paper_notebooks(root): assert name in r.stdout


def _run_primitives(cli, root, env, seed):
    r = run(cli, "run", "pytorch_primitives", "-p", "steps", "50", "-p", "n_shapes", "2", "-p", "seed", str(seed), cwd=root, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads((Path(env["PAPER_REPRO_OUT"]) / "results" / "pytorch_primitives.json").read_text())


def _without_timings(d):
    return {k: v for k, v in d.items() if "seconds" not in k}


def test_parameter_override_reaches_results_and_runs_are_deterministic(cli, root, out_env):
    a = _run_primitives(cli, root, out_env, seed=3)
    assert a["metrics"]["config"]["steps"] == 50 and a["metrics"]["config"]["n_shapes"] == 2  # the override took effect
    assert a["seed"] == 3 and a["profile"] == "quick"
    assert a["metrics"]["config"]["n_points"] == 2000  # untouched sizes keep the quick profile's value
    b = _run_primitives(cli, root, out_env, seed=3)
    assert a["claims"] == b["claims"]
    assert _without_timings(a["metrics"]) == _without_timings(b["metrics"])
    runs = sorted((root / "runs" / "pytorch_primitives").iterdir())
    assert runs and (runs[-1] / "05_pytorch_primitives.ipynb").exists()


def test_committed_results_follow_the_schema(root):
    from paper_repro.runner import paper_notebooks
    results = load_results(root / "results")
    assert {d["paper"] for d in results} >= set(paper_notebooks(root)), "every paper has committed quick-run results"
    for d in results:
        assert set(RESULT_KEYS) <= set(d)
        assert d["profile"] == "quick", f"{d['paper']}: committed results must come from the quick profile"
        assert d["claims"], d["paper"]
        for c in d["claims"]:
            assert set(CLAIM_KEYS) <= set(c) and c["verdict"] in VERDICTS and c["rule"], (d["paper"], c)


def _fake_project(tmp_path: Path, notebooks: dict) -> Path:
    proj = tmp_path / "proj"; (proj / "nbs").mkdir(parents=True)
    (proj / "settings.ini").write_text("[DEFAULT]\nlib_name = fake\n")
    for name, body in notebooks.items():
        nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
        params = nbformat.v4.new_code_cell("seed = 0"); params.metadata["tags"] = ["parameters"]
        nb.cells = [nbformat.v4.new_markdown_cell(f"# {name}\n> a fake paper"), params, nbformat.v4.new_code_cell(textwrap.dedent(body))]
        nbformat.write(nb, proj / "nbs" / f"{name}.ipynb")
    return proj


def test_run_all_goes_on_past_a_failing_notebook(cli, tmp_path, out_env):
    proj = _fake_project(tmp_path, {"05_bad": "raise RuntimeError('boom')", "06_good": "open('ran.txt', 'w').write('yes')"})
    r = run(cli, "run", "--all", cwd=proj, env=out_env)
    assert r.returncode == 1, r
    assert "FAIL bad: RuntimeError: boom" in r.stdout and "failed: bad" in r.stderr
    assert (proj / "nbs" / "ran.txt").read_text() == "yes"  # the notebook after the failing one still ran


def test_nan_loss_fails_the_run_with_epoch_and_step(cli, tmp_path, out_env):
    body = """
    import torch
    from paper_repro.data import tensor_loader
    from paper_repro.train import fit
    m = torch.nn.Linear(2, 2)
    fit(m, tensor_loader(torch.randn(8, 2), torch.zeros(8, dtype=torch.long)), lambda o, t: (o * float('nan')).sum(),
        torch.optim.SGD(m.parameters(), lr=0.1), epochs=1, device="cpu")
    """
    proj = _fake_project(tmp_path, {"05_nan": body})
    r = run(cli, "run", "nan", cwd=proj, env=out_env)
    assert r.returncode == 1 and "FloatingPointError: loss became nan at epoch 0, step 0" in r.stdout, r.stdout + r.stderr


def test_missing_checkout_is_a_clear_error(cli, tmp_path):
    r = run(cli, "list", cwd=tmp_path)
    assert r.returncode == 2 and "no paper_repro checkout" in r.stderr and "Traceback" not in r.stderr


def test_bench_writes_benchmarks_json(cli, root, out_env):
    r = run(cli, "bench", "--no-notebooks", "--only", "train_loop_overhead", cwd=root, env=out_env)   # every benchmark: minutes
    assert r.returncode == 0, r.stdout + r.stderr
    d = json.loads((Path(out_env["PAPER_REPRO_OUT"]) / "results" / "benchmarks.json").read_text())
    b = d["benchmarks"]["train_loop_overhead"]
    assert b["fit_s"] > 0 and b["hand_loop_s"] > 0 and b["ratio"] == pytest.approx(b["fit_s"] / b["hand_loop_s"])
    assert "train_loop_overhead" in r.stdout and list(d["benchmarks"]) == ["train_loop_overhead"]   # --only ran just that one


def test_report_command_writes_report(cli, root, out_env):
    import shutil
    shutil.copytree(root / "results", Path(out_env["PAPER_REPRO_OUT"]) / "results")
    r = run(cli, "report", cwd=root, env=out_env)
    assert r.returncode == 0, r.stderr
    md = (Path(out_env["PAPER_REPRO_OUT"]) / "results" / "REPORT.md").read_text()
    for d in load_results(root / "results"):
        for c in d["claims"]: assert c["claim"] in md, c["claim"]  # one row per claim across all papers


def test_committed_report_is_current(root, tmp_path):
    """results/REPORT.md is what `paper-repro report` builds from the committed results/*.json."""
    import shutil

    from paper_repro.results import build_report
    shutil.copytree(root / "results", tmp_path / "results")
    assert build_report(tmp_path / "results").read_text() == (root / "results" / "REPORT.md").read_text(), "run `paper-repro report`"


# Notebooks whose experiments follow CONVENTIONS §2.5 in full: every comparative claim paired over >= 5 seeds. The other
# notebooks use the same paired rule, but their experiments are still being redesigned (their seed counts are smaller).
DECISIVE = {"bart", "crosstransformers", "vlbert_vilbert", "vired", "dnc_distributed_memory", "nsganetv2", "simcal_longtail", "tsit", "pp_yolo", "adversarial_transfer", "oscar", "variational_instance_seg", "videobert_cbt", "efficientnet", "synthesizer", "vit", "pytorch_primitives", "positional_encoding", "label_smoothing", "mish", "cutmix", "sliceout", "res2net", "weightnet", "resnest", "resnext", "rexnet", "attraction_repulsion", "metapath2vec", "bert4rec"}


def _comparisons(claim):
    "The paired comparisons a claim was decided by: its own, or those of its named parts."
    if "comparison" in claim: yield claim["comparison"]
    for part in (claim.get("parts") or {}).values():
        if isinstance(part, dict): yield part


def test_committed_results_mark_central_claims_and_pair_seeds(root):
    for d in load_results(root / "results"):
        assert any(c["central"] for c in d["claims"]), f"{d['paper']}: mark the paper's central claim(s) with central=True"
        for c in d["claims"]:
            if c["verdict"] == "partly" and d["paper"] in DECISIVE:
                assert c.get("parts"), f"{d['paper']} {c['id']}: 'partly' is only for claims with named parts"
            for cmp in _comparisons(c):
                seeds = {len(v) for v in cmp["per_seed"].values()}
                assert len(seeds) == 1 and cmp["n_seeds"] in seeds, (d["paper"], c["id"])   # paired: equal per-seed lists
                lo, hi = cmp["interval"]
                assert lo <= cmp["mean_difference"] <= hi, (d["paper"], c["id"])
                if d["paper"] in DECISIVE: assert cmp["n_seeds"] >= 5, f"{d['paper']} {c['id']}: {cmp['n_seeds']} seeds, at least 5 needed"


def test_run_with_parameters_leaves_committed_results_alone(cli, root, tmp_path):
    """Only the default quick run updates results/ and figures/; a run with -p writes next to its executed notebook."""
    import os
    env = {k: v for k, v in os.environ.items() if k not in ("IN_TEST", "PAPER_REPRO_OUT")}
    committed = (root / "results" / "pytorch_primitives.json").read_bytes()
    r = run(cli, "run", "pytorch_primitives", "-p", "steps", "30", "-p", "n_shapes", "2", "-p", "seed", "7", cwd=root, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (root / "results" / "pytorch_primitives.json").read_bytes() == committed
    executed = Path(r.stdout.split("-> ")[1].split(";")[0].strip())
    out = json.loads((root / executed.parent / "results" / "pytorch_primitives.json").read_text())
    assert out["seed"] == 7 and "results and figures in" in r.stdout, r.stdout
    assert (root / executed.parent / "figures" / "pytorch_primitives").is_dir()


def test_list_fits_a_terminal(cli, root):
    import os
    r = run(cli, "list", cwd=root, env=dict(os.environ, COLUMNS="80"))
    assert r.returncode == 0 and max(len(line) for line in r.stdout.splitlines()) <= 80, r.stdout


def test_papermill_with_parameters_leaves_committed_results_alone(root, tmp_path):
    """Run directly through papermill (no paper-repro CLI) with a parameter: results/ stays the canonical quick run's."""
    import os
    import sys
    env = {k: v for k, v in os.environ.items() if k not in ("IN_TEST", "PAPER_REPRO_OUT")}
    committed = (root / "results" / "pytorch_primitives.json").read_bytes()
    before = set((root / "runs" / "pytorch_primitives").glob("*")) if (root / "runs" / "pytorch_primitives").exists() else set()
    r = subprocess.run([str(Path(sys.executable).parent / "papermill"), "nbs/05_pytorch_primitives.ipynb", str(tmp_path / "out.ipynb"),
                        "-p", "steps", "30", "-p", "n_shapes", "2", "--cwd", "nbs"], cwd=root, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (root / "results" / "pytorch_primitives.json").read_bytes() == committed
    new = set((root / "runs" / "pytorch_primitives").glob("*")) - before
    assert len(new) == 1 and (new.pop() / "results" / "pytorch_primitives.json").exists()
    assert "not the canonical quick run (steps=30, n_shapes=2)" in (tmp_path / "out.ipynb").read_text()


def test_full_profile_without_its_dataset_stops_before_anything_runs(root, tmp_path):
    """A notebook whose full profile reads data_dir checks the dataset in the cell after its parameters, so a user who
    forgot to download it learns so in seconds, not after the implementation tests and the quick experiments."""
    import os
    import sys
    from paper_repro.runner import notebook_parameters, paper_notebooks
    with_data = [p for p in paper_notebooks(root).values() if "data_dir" in notebook_parameters(p)]
    assert len(with_data) >= 9
    for path in with_data:
        cells = nbformat.read(path, as_version=4).cells
        params = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
        check = next((i for i, c in enumerate(cells) if 'if profile == "full": require_' in c.source), None)
        assert check is not None and check <= params + 2, f"{path.name}: check the full profile's data right after the parameters"
    env = {k: v for k, v in os.environ.items() if k not in ("IN_TEST", "PAPER_REPRO_OUT")} | {"PAPER_REPRO_OUT": str(tmp_path)}
    out, missing = tmp_path / "out.ipynb", tmp_path / "no_cifar"
    r = subprocess.run([str(Path(sys.executable).parent / "papermill"), "nbs/32_res2net.ipynb", str(out), "-p", "profile", "full",
                        "-p", "data_dir", str(missing), "--cwd", "nbs"], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    executed = nbformat.read(out, as_version=4).cells
    injected = next(i for i, c in enumerate(executed) if "injected-parameters" in c.metadata.get("tags", []))
    code = [i for i, c in enumerate(executed) if c.cell_type == "code" and i > injected]
    failed = [i for i in code if any(o.get("output_type") == "error" for o in executed[i].get("outputs", []))]
    assert failed == code[1:2], (failed, code[:3])   # the cell right after the export imports
    assert "FileNotFoundError" in r.stderr + r.stdout and str(missing) in r.stderr + r.stdout and "data_batch_1" in r.stderr + r.stdout
