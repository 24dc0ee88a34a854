"""paper_repro.metapath2vec against PyTorch Geometric's MetaPath2Vec (test-only): walks and embedding quality."""
import numpy as np
import torch
import torch_geometric.nn as pyg_nn  # noqa: E402  a test-only dependency (settings.ini): a missing one must fail, not skip

from paper_repro.core import threads
from paper_repro.metapath2vec import classify_f1, cluster_nmi, embed, make_academic_network

METAPATH = [("author", "writes", "paper"), ("paper", "published_in", "venue"),
            ("venue", "publishes", "paper"), ("paper", "written_by", "author")]


def _network():
    return make_academic_network(n_areas=4, authors_per_area=60, venues_per_area=3, papers_per_area=150,
                                 author_noise=0.2, venue_noise=0.1, seed=0)


def _edge_index_dict(graph):
    "Our HeteroGraph as PyG's {(src, rel, dst): edge_index} with local ids per type."
    out = {}
    for (s, t), rel in {("author", "paper"): "writes", ("paper", "venue"): "published_in",
                        ("venue", "paper"): "publishes", ("paper", "author"): "written_by"}.items():
        src, dst = graph.edges(s, t)
        out[(s, rel, t)] = torch.stack([src - graph.offset[s], dst - graph.offset[t]])
    return out


def _pyg_embedding(graph, seed=0, epochs=10, lr=0.05):
    torch.manual_seed(seed)
    model = pyg_nn.MetaPath2Vec(_edge_index_dict(graph), embedding_dim=32, metapath=METAPATH, walk_length=40,
                                context_size=4, walks_per_node=5, num_negative_samples=5, sparse=True)
    loader = model.loader(batch_size=64, shuffle=True)
    opt = torch.optim.SparseAdam(list(model.parameters()), lr=lr)
    model.train()
    for _ in range(epochs):
        for pos, neg in loader:
            opt.zero_grad(); model.loss(pos, neg).backward(); opt.step()
    with torch.no_grad():
        return model("author").detach(), model("venue").detach()


def _quality(Xa, ya):
    f1 = np.mean([classify_f1(Xa, ya, 0.5, seed=s)["macro_f1"] for s in range(3)])
    return f1, cluster_nmi(Xa, ya, seed=0)


def test_embedding_quality_matches_pyg_metapath2vec():
    graph, labels = _network()
    ia, ya = labels["author"]
    with threads(1):
        Xa_pyg, _ = _pyg_embedding(graph)
        ours = {m: embed(graph, m, walks_per_node=5, walk_length=41, dim=32, window=3, epochs=1, batch_size=2048, lr=0.02, seed=0)
                for m in ("metapath2vec", "metapath2vec++")}
    f1_pyg, nmi_pyg = _quality(Xa_pyg, ya)
    chance = 1 / 4
    assert f1_pyg > chance + 0.3, f1_pyg  # PyG's reference learns the planted areas
    for m, X in ours.items():
        f1, nmi = _quality(X[ia + graph.offset["author"]], ya)
        assert f1 > f1_pyg - 0.05, (m, f1, f1_pyg)  # as good as the reference, within a tolerance
        assert nmi > nmi_pyg - 0.1, (m, nmi, nmi_pyg)


def test_pyg_walks_follow_the_same_metapath_types():
    "PyG's positive samples (rows of meta-path walks) visit author, paper, venue, paper, author... as ours do."
    graph, _ = _network()
    torch.manual_seed(0)
    model = pyg_nn.MetaPath2Vec(_edge_index_dict(graph), embedding_dim=8, metapath=METAPATH, walk_length=8,
                                context_size=5, walks_per_node=1, num_negative_samples=1)
    n_a = graph.num_nodes["author"]
    pos = model._pos_sample(torch.arange(n_a))[:n_a].numpy()  # the first window of each walk; ids over PyG's type order
    start = {t: model.start[t] for t in ("author", "paper", "venue")}
    assert (pos < model.dummy_idx).all()  # no dead ends in this network
    types = np.select([pos >= start["venue"], pos >= start["paper"]], [2, 1], 0)
    assert (types == np.array([0, 1, 2, 1, 0])).all()  # A-P-V-P-A, as metapath_walks


def test_walk_speed_against_pyg(record_speed):
    "Walks per second: our vectorised meta-path walker against PyG's MetaPath2Vec sampler, same network and walk length."
    import time

    from paper_repro.metapath2vec import metapath_walks
    graph, _ = _network()
    n_a, walks_per_node, steps = graph.num_nodes["author"], 20, 40
    start = torch.arange(n_a).repeat(walks_per_node) + graph.offset["author"]
    model = pyg_nn.MetaPath2Vec(_edge_index_dict(graph), embedding_dim=8, metapath=METAPATH, walk_length=steps,
                                context_size=steps + 1, walks_per_node=walks_per_node)  # one window = the whole walk

    def best_seconds(fn, repeats=5):
        fn(); times = []  # warm-up
        for _ in range(repeats):
            t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
        return min(times)

    with threads(1):
        g = torch.Generator().manual_seed(0)
        ours = best_seconds(lambda: metapath_walks(graph, "author-paper-venue-paper-author", start, steps + 1, generator=g))
        pyg = best_seconds(lambda: model._pos_sample(torch.arange(n_a)))
    assert tuple(model._pos_sample(torch.arange(n_a)).shape) == (len(start), steps + 1)  # the same amount of work
    record_speed("metapath walks vs PyG MetaPath2Vec", input=f"{len(start)} walks x {steps + 1} nodes", threads=1,
                 ours_ms=ours * 1e3, reference_ms=pyg * 1e3, ratio=ours / pyg)
    assert ours < 5 * pyg  # a loose sanity bound; the ratio goes to results/benchmarks_reference.json (make bench)
