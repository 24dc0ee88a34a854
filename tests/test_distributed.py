"""Data parallelism on PyTorch's own engine: `fit` and `predict` under torchrun (gloo, 2 CPU processes) against one process."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).parent / "distributed" / "fit_worker.py"


def _run(out: Path, batch: int, nproc: int = 1, *extra: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "IN_TEST"): env.pop(k, None)
    cmd = [sys.executable, str(WORKER), str(out), str(batch), *extra]
    if nproc > 1: cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *cmd[1:]]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return torch.load(out) | dict(stdout=done.stdout)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    "One process with batch 16, and two torchrun processes with batch 8 each, on the same data and initialisation."
    tmp = tmp_path_factory.mktemp("ddp")
    return _run(tmp / "single.pt", 16), _run(tmp / "ddp.pt", 8, 2)


def test_two_processes_of_batch_b_give_the_weights_of_one_of_batch_2b(runs):
    single, ddp = runs
    assert single["world"] == 1 and ddp["world"] == 2
    for name, w in single["state"].items():   # DDP averages the two halves' gradients: the mean over 16 samples, up to float32 rounding
        torch.testing.assert_close(ddp["state"][name], w, rtol=0, atol=1e-5, msg=f"{name} differs")
    torch.testing.assert_close(torch.tensor(ddp["history"]["train_loss"]), torch.tensor(single["history"]["train_loss"]), rtol=0, atol=1e-5)


def test_evaluation_gathers_every_shard_without_padding(runs):
    single, ddp = runs   # 7 test rows over 2 processes: DistributedSampler pads one; predict drops it and keeps the order
    assert ddp["z"].shape == single["z"].shape == (7, 3)
    torch.testing.assert_close(ddp["t"], single["t"], rtol=0, atol=0)
    torch.testing.assert_close(ddp["z"], single["z"], rtol=0, atol=1e-5)
    assert ddp["history"]["valid_acc"] == pytest.approx(single["history"]["valid_acc"], abs=1e-6)


def test_batchnorm_synchronised_on_cpu_two_processes_of_batch_b_equal_one_of_batch_2b(tmp_path):
    "CPUSyncBatchNorm: statistics over both processes' batches, so weights and running statistics equal one process of batch 16."
    single, ddp = _run(tmp_path / "bn1.pt", 16, 1, "bn"), _run(tmp_path / "bn2.pt", 8, 2, "bn")
    assert "fit: data-parallel over 2 processes (gloo)" in ddp["stdout"]
    assert {"1.running_mean", "1.running_var", "1.num_batches_tracked"} <= set(single["state"])
    for name, w in single["state"].items():
        torch.testing.assert_close(ddp["state"][name], w, rtol=0, atol=1e-5, msg=f"{name} differs")
    torch.testing.assert_close(ddp["z"], single["z"], rtol=0, atol=1e-5)


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def _stop(procs) -> None:
    """Leave no torchrun agent or worker behind a failed test: SIGTERM first, which an agent passes on to its workers (they
    run in sessions of their own, out of reach of a kill of the agent's group), then SIGKILL whatever is left."""
    import signal
    for p in procs:
        try:
            if p.poll() is None: os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError: pass
    for p in procs:
        try: p.wait(timeout=30)
        except subprocess.TimeoutExpired: pass
        try: os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError: pass


def test_two_nodes_without_a_shared_disk_restart_from_rank_0s_checkpoint(tmp_path):
    """Two torchrun agents (--nnodes 2, one process each, c10d rendezvous on localhost) with their own folders: a
    process dies in the third epoch, torchrun restarts them, the node without the checkpoint file gets rank 0's state,
    and the run ends with the weights of an uninterrupted single-node run of 2 processes. As `paper-repro run --nnodes`,
    torchrun keeps its rendezvous store to itself: the workers' store is new at every attempt."""
    env = dict(os.environ, OMP_NUM_THREADS="1", CRASH_MARKER=str(tmp_path / "died.once"), TORCH_DISABLE_SHARE_RDZV_TCP_STORE="1")
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "IN_TEST"): env.pop(k, None)
    endpoint = f"127.0.0.1:{_free_port()}"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1", "--max-restarts=1",
           "--rdzv-backend=c10d", f"--rdzv-endpoint={endpoint}", str(WORKER)]
    nodes = []
    for node in ("a", "b"):
        (tmp_path / node).mkdir()
        nodes.append(subprocess.Popen(cmd + [str(tmp_path / node / "w.pt"), "8", "crash"], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, start_new_session=True))
    try:
        logs = [p.communicate(timeout=240) for p in nodes]
    finally:
        _stop(nodes)
    assert all(p.returncode == 0 for p in nodes), "\n".join(err[-2000:] for _, err in logs)
    written = [p for p in (tmp_path / "a" / "w.pt", tmp_path / "b" / "w.pt") if p.exists()]
    assert len(written) == 1                                                        # rank 0 alone saved the result
    assert len(list(tmp_path.glob("*/w.ckpt"))) == 1                                # and the checkpoint: one node has none
    assert (tmp_path / "died.once").exists()                                        # the first attempt died
    (tmp_path / "ref.crashed").write_text("never crash")
    reference = _run(tmp_path / "ref.pt", 8, 2, "crash")
    resumed = torch.load(written[0])
    for name, w in reference["state"].items(): torch.testing.assert_close(resumed["state"][name], w, rtol=0, atol=0)


def test_several_nodes_that_may_restart_on_torchruns_shared_store_is_an_error_not_a_hang(monkeypatch):
    """On the store torchrun shares with its workers, nodes name a restart's keys by their own restart counts, which differ
    (pytorch#135712): the second attempt waited for ever in `init_process_group` (1 run in 3). `fit` refuses to start."""
    from paper_repro.train import _init_distributed
    env = dict(RANK="0", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT="1", TORCHELASTIC_USE_AGENT_STORE="True",
               GROUP_WORLD_SIZE="2", TORCHELASTIC_MAX_RESTARTS="1")
    for k, v in env.items(): monkeypatch.setenv(k, v)
    with pytest.raises(RuntimeError, match="TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1"):
        _init_distributed(torch.device("cpu"))


# ---- paper-repro run PAPER --nproc N: a notebook under torchrun
def _cli(cli, root, *args, timeout=300):
    env = {k: v for k, v in os.environ.items() if k not in ("IN_TEST", "PAPER_REPRO_OUT", "RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return subprocess.run([cli, "run", *args], cwd=root, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args, needle", [
    (["pytorch_primitives", "--nproc", "0"], "--nproc must be at least 1, got 0"),
    (["resnext", "--nproc", "2", "-p", "device", "cuda"], "no CUDA device"),
    (["resnext", "--nnodes", "2"], "needs --rdzv-endpoint HOST:PORT"),
    (["resnext", "--nproc", "2", "--rdzv-endpoint", "nohostport"], "must be HOST:PORT"),
    (["--all", "--nproc", "2"], "run one PAPER, not --all"),
    (["pytorch_primitives", "--nproc", "1", "--nnodes", "2", "--rdzv-endpoint", "127.0.0.1:29477", "--rdzv-timeout", "3"],
     "could not complete the rendezvous at 127.0.0.1:29477 within 3 s"),
])
def test_distributed_usage_errors_are_one_line_exit_2(cli, root, args, needle):
    r = _cli(cli, root, *args, timeout=120)
    assert r.returncode == 2, r
    assert needle in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.strip().splitlines()[-1].startswith("paper-repro: error:"), r.stderr


def test_cnn_full_profile_on_two_processes_writes_its_results_once(cli, root):
    "A CNN notebook's full profile (tiny CIFAR-10 fixture) under torchrun: fit runs DDP in both kernels; rank 0 alone writes."
    args = ["resnext", "--nproc", "2", "-p", "profile", "full", "-p", "device", "cpu", "-p", "data_dir", str(root / "tests" / "fixtures" / "cifar10")]
    for k, v in dict(settings="1x4,2x2", planes="4", blocks="1", strides="1", stem_channels=4, epochs=1, n_seeds=2, batch_size=8).items():
        args += ["-p", k, str(v)]
    r = _cli(cli, root, *args)
    assert r.returncode == 0, r.stderr[-3000:]
    folder = root / r.stdout.split("-> ")[1].split(";")[0]
    run_dir = folder.parent
    try:
        assert sorted(p.name for p in run_dir.iterdir()) == ["30_resnext.ipynb", "checkpoints", "figures", "results"]   # no other rank's notebook
        assert len(list((run_dir / "checkpoints").glob("fit-*.pt"))) >= 4   # every fit (at least 2 settings x 2 seeds) checkpointed, for a restart
        assert [p.name for p in (run_dir / "results").iterdir()] == ["resnext.json"]
        assert "fit: data-parallel over 2 processes (gloo)" in folder.read_text()   # fit ran data-parallel
        assert json.loads((run_dir / "results" / "resnext.json").read_text())["profile"] == "full"
    finally:
        import shutil
        shutil.rmtree(run_dir)


def test_cnn_full_profile_on_two_nodes_runs_with_one_command_per_node(cli, root):
    """`paper-repro run PAPER --nnodes 2 --rdzv-endpoint HOST:PORT`, the same command on two 'nodes' (localhost): one result, one
    notebook. With --max-restarts the launcher keeps torchrun's store to torchrun, or `fit` would refuse to start."""
    args = ["resnext", "--nproc", "1", "--nnodes", "2", "--rdzv-endpoint", f"127.0.0.1:{_free_port()}", "--rdzv-timeout", "120", "--max-restarts", "1",
            "-p", "profile", "full", "-p", "device", "cpu", "-p", "data_dir", str(root / "tests" / "fixtures" / "cifar10")]
    for k, v in dict(settings="1x4", planes="4", blocks="1", strides="1", stem_channels=4, epochs=1, n_seeds=2, batch_size=8).items():
        args += ["-p", k, str(v)]
    env = {k: v for k, v in os.environ.items() if k not in ("IN_TEST", "PAPER_REPRO_OUT", "RANK", "WORLD_SIZE", "LOCAL_RANK")}
    nodes = [subprocess.Popen([cli, "run", *args], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True) for _ in range(2)]
    try:
        logs = [p.communicate(timeout=300) for p in nodes]
    finally:
        _stop(nodes)
    assert all(p.returncode == 0 for p in nodes), "\n".join(err[-2000:] for _, err in logs)
    run_dirs = [(root / out.split("-> ")[1].split(";")[0].split(" (")[0]).parent for out, _ in logs]
    try:
        assert len(set(run_dirs)) == 2                                       # each node's launcher has its own folder
        notebooks = [d for d in run_dirs if (d / "30_resnext.ipynb").exists()]
        results = [p for d in run_dirs for p in (d / "results").glob("*.json")]
        assert len(notebooks) == 1 and len(results) == 1                    # global rank 0 alone wrote them
        assert sum("not kept: this node held no rank 0" in out for out, _ in logs) == 1
        assert sum(d.exists() for d in run_dirs) == 1                        # the other node left no empty folder
        assert "fit: data-parallel over 2 processes (gloo)" in (notebooks[0] / "30_resnext.ipynb").read_text()
    finally:
        import shutil
        for d in run_dirs: shutil.rmtree(d, ignore_errors=True)


# ---- checkpoints: a killed worker resumes from the last finished epoch
def test_single_process_resumes_from_its_checkpoint_with_the_weights_of_an_uninterrupted_run(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "IN_TEST"): env.pop(k, None)
    first = subprocess.run([sys.executable, str(WORKER), str(tmp_path / "a.pt"), "16", "crash"], env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode != 0 and "worker killed (test)" in first.stderr and (tmp_path / "a.ckpt").exists()
    assert torch.load(tmp_path / "a.ckpt", weights_only=False)["epoch"] == 1    # epochs 0 and 1 finished before the crash
    resumed = _run(tmp_path / "a.pt", 16, 1, "crash")                              # the same command again: resumes at epoch 2
    (tmp_path / "ref.crashed").write_text("never crash")
    reference = _run(tmp_path / "ref.pt", 16, 1, "crash")                          # uninterrupted, same shuffling and checkpoints
    for name, w in reference["state"].items(): torch.testing.assert_close(resumed["state"][name], w, rtol=0, atol=0)
    assert resumed["history"] == reference["history"]


def test_torchrun_restarts_a_killed_worker_and_finishes_from_the_checkpoint(tmp_path):
    "torchrun --max-restarts=1: both processes restart, load the last checkpoint and end with the uninterrupted run's weights."
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "IN_TEST"): env.pop(k, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "--max-restarts=1", str(WORKER)]
    done = subprocess.run(cmd + [str(tmp_path / "b.pt"), "8", "crash"], env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "b.crashed").exists()                                       # it did die once
    (tmp_path / "ref.crashed").write_text("never crash")
    reference = _run(tmp_path / "ref.pt", 8, 2, "crash")
    resumed = torch.load(tmp_path / "b.pt")
    for name, w in reference["state"].items(): torch.testing.assert_close(resumed["state"][name], w, rtol=0, atol=0)
    assert not list(tmp_path.glob(".*.tmp"))                                      # no half-written checkpoint left
