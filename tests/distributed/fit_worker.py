"""Run by tests/test_distributed.py, under torchrun or alone: fit a tiny classifier with `paper_repro.train.fit`, predict
a set whose size the world size does not divide, and (rank 0 only) save the weights and predictions.

usage: fit_worker.py OUT BATCH [bn | crash]   (BATCH: per-process batch size; bn: a model with BatchNorm;
crash: shuffled batches, a checkpoint next to OUT after every epoch, and the first attempt dies in the third epoch)
"""
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from paper_repro.core import distributed_world, seed_everything
from paper_repro.data import tensor_loader
from paper_repro.train import fit, predict

out, batch = sys.argv[1], int(sys.argv[2])
mode = sys.argv[3] if len(sys.argv) > 3 else ""
with_bn, crash = mode == "bn", mode == "crash"
torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
x, y = torch.randn(64, 10, generator=g), torch.randint(0, 3, (64,), generator=g)
seed_everything(0)
model = nn.Sequential(nn.Linear(10, 16), nn.BatchNorm1d(16) if with_bn else nn.Identity(), nn.Tanh(), nn.Linear(16, 3))
opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
calls, crashed = [0], Path(os.environ.get("CRASH_MARKER", Path(out).with_suffix(".crashed")))   # CRASH_MARKER: one for all nodes
def loss_fn(z, t):
    "Cross-entropy; with crash, the first attempt raises at its 11th call (4 steps and 1 evaluation per epoch: the third epoch's first step)."
    calls[0] += 1
    if crash and calls[0] == 11 and not crashed.exists():
        crashed.write_text("died once"); raise RuntimeError("worker killed (test)")
    return F.cross_entropy(z, t)
hist = fit(model, tensor_loader(x, y, batch_size=batch, shuffle=crash, seed=5), loss_fn, opt, epochs=3, device="cpu", progress=False,
           checkpoint=Path(out).with_suffix(".ckpt") if crash else None,
           valid_loader=tensor_loader(x[:7], y[:7], batch_size=3), metrics=dict(acc=lambda z, t: (z.argmax(-1) == t).float().mean()))
z, t = predict(model, tensor_loader(x[:7], y[:7], batch_size=3), "cpu")
rank, world = distributed_world()
if rank == 0:
    torch.save(dict(state=model.state_dict(), z=z, t=t, world=world, history=hist.drop(columns="seconds").to_dict("list")), out)
