"""The full profile is never dead code (CONVENTIONS §4): run each paper's profile="full" path on CPU, tiny sizes."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from paper_repro.data import write_cifar10_fixture
from paper_repro.runner import paper_notebooks

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "paper-repro")
CIFAR10 = ROOT / "tests" / "fixtures" / "cifar10"

# Per paper: the overrides that shrink its full profile to a few steps. A new paper must add a row.
FULL_SMOKE = {
    "pytorch_primitives": dict(steps=20, n_shapes=2),
    "positional_encoding": dict(d_model=16, n_heads=2, n_layers=1, d_ff=32, train_length=4, test_lengths="4,6", n_train=64,
                                n_test=32, epochs=1, batch_size=32, n_seeds=2, check_positions=64),
    "label_smoothing": dict(epochs=1, width=4, student_width=2, n_seeds=2, temperatures="1", batch_size=8, data_dir=str(CIFAR10)),
    "mish": dict(n_samples=300, depths="2,3", width=8, epochs=1, batch_size=64, n_seeds=2, landscape_grid=20, landscape_width=8,
                 n_landscapes=2, bench_rows=16, bench_cols=64, bench_layers=2, bench_repeats=1, n_check=100),
    "cutmix": dict(epochs=1, n_seeds=2, width=2, batch_size=8, shapes_n_train=32, shapes_n_val=16, shapes_n_test=16, shapes_size=24,
                   data_dir=str(CIFAR10)),
    "sliceout": dict(width=16, depth=1, epochs=1, n_seeds=2, n_train=200, n_test=100, batch_size=32, bench_widths="16,32",
                     bench_keep_rates="0.5", bench_batch=8, bench_in=8, bench_steps=1, bench_repeats=1, slice_n=64, slice_repeats=1, n_draws=20),
    "synthesizer": dict(variants="dot,dense,random,random_fixed,factorized_dense,factorized_random,mixture", d_model=16, n_heads=2, n_layers=1,
                        d_ff=32, reverse_length=4, recall_pairs=2, n_train=128, n_test=64, epochs=1, batch_size=64, lr=1e-3, n_seeds=2,
                        bench_lengths="16,32", bench_d_model=16, bench_batch=2, bench_repeats=1),
    "bart": dict(vocab_size=200, seq_len=32, d_model=16, n_layers=1, n_heads=2, d_ff=32, batch_size=32, pretrain_epochs=1, finetune_steps=2,
                 n_seeds=2, n_draws=20),
    "vit": dict(n_seeds=1, train_sizes="8,16", n_test=4, patch_size=8, d_model=16, depth=2, n_heads=2, d_mlp=32, cnn_width=4, steps=4,
                batch_size=8, threads=1, data_dir=str(CIFAR10)),
    "rexnet": dict(d_out=8, n_samples=16, n_draws=2, ratios="0.25,0.5,1", activations="identity,relu,silu,elu", models="rexnet_100",
                   resolution=64, net_layers=3, net_width=24, net_samples=32, net_seeds=2),
    "resnext": dict(settings="1x4,2x2", planes="4", blocks="1", strides="1", stem_channels=4, epochs=1, n_seeds=2, batch_size=8,
                    data_dir=str(CIFAR10)),
    "resnest": dict(planes="8,16", blocks="1,1", stem_width=4, epochs=1, n_seeds=2, batch_size=8, data_dir=str(CIFAR10)),
    "res2net": dict(rf_scales="1,2", rf_channels=4, rf_blocks=1, rf_trials=2, settings="1x64,2x32", planes="4", blocks="1",
                    strides="1", stem_channels=16, epochs=1, n_seeds=2, batch_size=8, data_dir=str(CIFAR10)),
    "weightnet": dict(widths="8", repeats="1,1", stem_channels=8, last_channels=16, epochs=1, n_seeds=2, batch_size=8, data_dir=str(CIFAR10)),
    "bert4rec": dict(data_dir=str(ROOT / "tests" / "fixtures" / "ml-1m"), seq_len=8, d_model=8, n_layers=1, n_heads=2, epochs=2,
                     batch_size=8, n_seeds=2, n_negatives=2, bench_users=100),
    "metapath2vec": dict(walks_per_node=2, walk_length=9, dim=8, window=2, negatives=2, epochs=1, batch_size=256, n_seeds=2, walks_per_chunk=10,
                         fractions="0.5", bench_walkers=50, data_dir=str(ROOT / "tests" / "fixtures" / "aminer")),
    "efficientnet": dict(n_train=64, n_test=32, epochs=1, batch_size=32, n_seeds=2, phis="1,2", alpha_values="1.0",
                         beta_values="1.0,1.2", base_resolution=32, models="efficientnet_b0"),
    "simcal_longtail": dict(n_seeds=2, n_max=1, imbalance=1, epochs=2, short_epochs=1, cal_steps=5, width=16, batch_size=8,
                            data_dir=str(CIFAR10)),
    "videobert_cbt": dict(n_seeds=2, steps=5, k=2, depth=2, curve_depth=2, d_model=16, n_layers=1, batch_size=4, n_negatives=8,
                          data_dir=str(ROOT / "tests" / "fixtures" / "recipe-videos")),
    "oscar": dict(data_dir=str(ROOT / "tests" / "fixtures" / "vl-scenes"), pool=4, n_seeds=2, steps=2, checkpoints=1, d_model=16, n_layers=1, batch_size=4),
    "nsganetv2": dict(n_stages=2, widths="8,16", kernels="3,5", n_pool=1000, supernet_steps=20, ft_steps=2, budget=10, doe=5,
                      per_iteration=2, n_search=2, n_scratch=4),
    "vlbert_vilbert": dict(n_seeds=2, pre_steps=3, ft_steps=2, n_labelled=2, n_test=2, d_model=16, n_layers=1, vil_d_model=12,
                           batch_size=4, ft_batch_size=2, data_dir=str(ROOT / "tests" / "fixtures" / "vl-scenes")),
    "vired": dict(n_seeds=2, n_train=64, n_gallery=16, n_igs=16, rounds=2, d_model=8, steps=5, batch_size=16, cap_steps=5, gen_steps=5,
                  top_k=4),
    "dnc_distributed_memory": dict(n_seeds=2, steps=3, batch_size=4, min_length=2, max_length=3, bits=4, hidden_size=8, lstm_hidden=8,
                                   memory_slots=4, word_size=4, final_window=2),
    "variational_instance_seg": dict(n_seeds=2, n_train=32, n_test=8, epochs=1, width=8, batch_size=16),
    "crosstransformers": dict(n_seeds=2, image_size=24, channels=8, key_dim=8, train_steps=5, train_queries=4, pool_per_class=12,
                              eval_per_class=15, n_test_episodes=10, test_queries=5),
    "adversarial_transfer": dict(n_seeds=2, n_source_train=64, n_source_test=32, n_target_train=32, n_target_test=32, epochs=1, pgd_steps=1,
                                 eval_pgd_steps=1, finetune_epochs=1, n_fisher=8, channels=4, width=8),
    "tsit": dict(n_seeds=2, steps=2, size=16, n_scales=3, width=4, n_train=32, n_test=16, batch_size=4),
    "pp_yolo": dict(n_seeds=2, n_train=32, n_test=8, steps=2, width=8, batch_size=8, n_bench=4),
    "attraction_repulsion": dict(n_points=120, n_seeds=2, rhos="1,4", rho_fractions="0.5,2", n_iter=60, n_early=20, n_reference=40),
}


def test_every_paper_has_a_full_profile_smoke_row():
    assert set(paper_notebooks(ROOT)) == set(FULL_SMOKE), "add the new paper's tiny full-profile overrides to FULL_SMOKE"


def test_cifar10_fixture_is_in_the_real_format(tmp_path):
    """The committed fixture is what write_cifar10_fixture writes (the exact CIFAR-10 python-batch format)."""
    from paper_repro.data import CIFAR10_FILES
    write_cifar10_fixture(tmp_path, n_per_batch=4, seed=0)
    for f in CIFAR10_FILES: assert (CIFAR10 / f).read_bytes() == (tmp_path / f).read_bytes(), f


@pytest.mark.parametrize("paper", sorted(FULL_SMOKE))
def test_full_profile_runs_on_cpu(paper, out_env, root):
    args = [CLI, "run", paper, "-p", "profile", "full", "-p", "device", "cpu"]
    for k, v in FULL_SMOKE[paper].items(): args += ["-p", k, str(v)]
    r = subprocess.run(args, cwd=root, env=out_env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    d = json.loads((Path(out_env["PAPER_REPRO_OUT"]) / "results" / f"{paper}.json").read_text())
    assert d["profile"] == "full" and d["claims"]


def test_full_profile_without_the_dataset_names_the_missing_path(out_env, root, tmp_path):
    missing = tmp_path / "no_cifar_here"
    r = subprocess.run([CLI, "run", "label_smoothing", "-p", "profile", "full", "-p", "data_dir", str(missing)],
                       cwd=root, env=out_env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FileNotFoundError" in r.stdout and str(missing) in r.stdout and "data_batch_1" in r.stdout, r.stdout
