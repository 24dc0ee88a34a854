"""Exact t-SNE with exaggeration against scikit-learn: KL of TSNE(method="exact") at rho=1, SpectralEmbedding at large rho."""
import pytest
import torch
from sklearn.manifold import TSNE, SpectralEmbedding

from paper_repro.attraction_repulsion import (
    canonical_correlations,
    exaggerated_tsne,
    kl_divergence,
    pca_init,
    tsne_affinities,
)
from paper_repro.core import threads
from paper_repro.data import load_digits_data


@pytest.fixture(autouse=True)
def one_thread():
    "One thread for these tests (reproducible float sums), restored afterwards so later tests keep the machine's count."
    with threads(1):
        yield


def _digits(n):
    d = load_digits_data()
    return torch.cat([d["x_train"], d["x_test"]]).flatten(1).double()[:n]


def test_kl_matches_sklearn_exact_tsne():
    x = _digits(400)
    P = tsne_affinities(x, 30.0)
    ours = kl_divergence(P, exaggerated_tsne(P, pca_init(x), rho=1.0, n_iter=1000, n_early=250)).item()
    sk = TSNE(2, perplexity=30.0, method="exact", init="pca", learning_rate="auto", random_state=0).fit(x.numpy()).kl_divergence_
    assert ours <= sk * 1.05, (ours, sk)  # within 5 % (or lower)


def test_large_rho_approaches_spectral_embedding():
    x = _digits(300)
    P = tsne_affinities(x, 30.0)
    le = torch.from_numpy(SpectralEmbedding(2, affinity="precomputed", random_state=0).fit_transform(P.numpy()))
    cc = {r: canonical_correlations(exaggerated_tsne(P, pca_init(x), rho=r, n_iter=400, n_early=100, gains=r == 1), le).mean().item()
          for r in (1.0, 1000.0)}
    assert cc[1000.0] > 0.95 and cc[1000.0] > cc[1.0], cc


def test_collapse_above_critical_exaggeration():
    """With the authors' Figure-1 optimiser, an embedding above rho_c = 1/((n-1) lambda_2(L)) shrinks towards a point; below it stays extended."""
    from paper_repro.attraction_repulsion import critical_exaggeration, fig1_learning_rate

    x = _digits(300)
    P = tsne_affinities(x, 30.0)
    rho_c = critical_exaggeration(P)
    radius = {}
    for r in (rho_c / 2, rho_c * 2):
        e = exaggerated_tsne(P, pca_init(x), rho=r, n_iter=400, n_early=100, learning_rate=fig1_learning_rate(300, r))
        radius[r] = e.square().sum(1).mean().sqrt().item()
    assert radius[rho_c / 2] > 1e-2 and radius[rho_c * 2] < 1e-8, (rho_c, radius)
