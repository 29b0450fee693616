"Two gloo processes on CPU give the scores of one process (chains split 2 + 2), also with a sharded training set."
import torch, pytest
from torch import nn
from bif_nbdev.all import bif, squared_loss, cross_entropy_loss
from bif_nbdev.distributed import spawn_bif


def _problem(n=80, q=10, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    X, Xq = torch.randn(n, d, generator=g), torch.randn(q, d, generator=g)
    y, yq = (X[:, 0] - X[:, 1] > 0).long(), (Xq[:, 0] - Xq[:, 1] > 0).long()
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(d, 8), nn.Tanh(), nn.Linear(8, 2))
    opt = torch.optim.Adam(model.parameters(), 0.05)
    for _ in range(100):
        opt.zero_grad(); nn.functional.cross_entropy(model(X), y).backward(); opt.step()
    return model, (X, y), (Xq, yq)


@pytest.mark.parametrize('shards', [1, 2])
def test_two_processes_match_one(shards):
    model, train, query = _problem()
    kw = dict(chains=4, draws=30, burnin=10, nbeta=80., gamma=50., batch_size=20, seed=5)
    ref = bif(model, train, query, cross_entropy_loss, progress=False, **kw)
    res = spawn_bif(2, model, train, query, cross_entropy_loss, shards=shards, **kw)
    scale = ref.scores.abs().max()
    assert scale > 0
    assert (res.scores - ref.scores).abs().max() <= 1e-4 * scale, (res.scores - ref.scores).abs().max() / scale
    assert (res.stderr - ref.stderr).abs().max() <= 1e-4 * ref.stderr.abs().max()
    assert torch.allclose(res.train_trace, ref.train_trace, atol=1e-5)
    assert res.config['world'] == 2 and res.config['shards'] == shards and res.config['chains_kept'] == [0, 1, 2, 3]
    # a different seed gives different scores: the comparison above can fail
    other = bif(model, train, query, cross_entropy_loss, progress=False, **dict(kw, seed=6))
    assert (other.scores - ref.scores).abs().max() > 1e-2 * scale


def test_a_rank_with_other_weights_or_data_is_refused():
    "Each rank samples around its own model and data; a rank that differs from the plan's would be summed in silently."
    import copy
    from bif_nbdev.distributed import prepare_bif, local_bif
    model, train, query = _problem()
    plan = prepare_bif(model, train, query, cross_entropy_loss, world=2, chains=2, draws=5, burnin=2, nbeta=80., gamma=50., eps=1e-3)
    other = copy.deepcopy(model)
    with torch.no_grad(): other[0].weight.add_(0.01)
    with pytest.raises(ValueError, match="other weights"):
        local_bif(other, train, query, cross_entropy_loss, plan, rank=1, world=2)
    X, y = train
    with pytest.raises(ValueError, match="train data give other losses"):
        local_bif(model, (X.flip(0), y.flip(0)), query, cross_entropy_loss, plan, rank=1, world=2)
    parts = local_bif(model, train, query, cross_entropy_loss, plan, rank=1, world=2)  # the same run passes
    assert parts


def test_settings_that_differ_from_rank_0_are_named():
    from bif_nbdev.distributed import warn_other_settings
    with pytest.warns(UserWarning, match=r"seed=1 here, 0 on rank 0.*rank 0's are used"):
        warn_other_settings(dict(seed=1, chains=2), dict(seed=0, chains=2), rank=1)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        warn_other_settings(dict(seed=0), dict(seed=0), rank=1)  # the same: silent
