"The engine's contract, called as a user would call it (outside the notebooks)."
import math, os
import pytest, torch
from torch import nn
from bif_nbdev.all import bif, BIFResult, squared_loss, cross_entropy_loss, SGLDDivergence, exact_bif_linreg, calibrate


def _linreg(n=60, q=20, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.tensor([1., -2., .5])
    Xtr, Xq = torch.randn(n, d, generator=g), torch.randn(q, d, generator=g)
    Ytr, Yq = Xtr @ w + .3 * torch.randn(n, generator=g), Xq @ w + .3 * torch.randn(q, generator=g)
    model = nn.Linear(d, 1, bias=False)
    with torch.no_grad(): model.weight.copy_(torch.linalg.lstsq(Xtr, Ytr[:, None]).solution.T)
    return model, (Xtr, Ytr), (Xq, Yq)


def _exact(train, query, w, nbeta, gamma):
    return exact_bif_linreg(*train, *query, w, nbeta, gamma)


def test_converges_to_closed_form_linear_regression():
    model, train, query = _linreg()
    exact = _exact(train, query, model.weight[0].detach(), 60., 6.)
    errs = []
    for draws in (60, 1000):
        r = bif(model, train, query, squared_loss, chains=64, draws=draws, burnin=100, nbeta=60., gamma=6., batch_size=60, seed=0, progress=False)
        errs.append(((r.scores.double() - exact).norm() / exact.norm()).item())
    corr = torch.corrcoef(torch.stack([r.scores.flatten().double(), exact.flatten()]))[0, 1].item()
    assert errs[1] < 0.1 and corr >= 0.99, (errs, corr)
    assert errs[1] < errs[0]  # the error shrinks with draws
    # the chain-based standard errors are honest: most entries lie within 3 of them
    z = ((r.scores.double() - exact) / r.stderr.double()).abs()
    assert (z < 3).float().mean() > 0.8


def test_shapes_signs_and_model_untouched():
    model, train, query = _linreg()
    w0 = model.weight.detach().clone()
    r = bif(model, train, query, squared_loss, chains=2, draws=20, progress=False, seed=1)
    assert r.scores.shape == (60, 20) and r.corr.shape == (60, 20) and r.stderr.shape == (60, 20)
    assert (r.corr.abs() <= 1).all() and torch.isfinite(r.scores).all()
    assert torch.equal(model.weight.detach(), w0)
    for k in ('eps', 'gamma', 'nbeta', 'batch_size', 'chains', 'draws', 'burnin', 'seed'): assert k in r.config
    assert r.train_trace.shape == (2, 20)


def test_per_token_losses_give_token_scores_that_sum_to_sequence_scores():
    torch.manual_seed(0)
    n, q, S, V = 12, 4, 5, 7
    emb = nn.Sequential(nn.Embedding(V, 8), nn.Linear(8, V))
    xtr, xq = torch.randint(0, V, (n, S + 1)), torch.randint(0, V, (q, S + 1))
    def tok_loss(m, b):
        x = b[0]; logits = m(x[:, :-1])
        return nn.functional.cross_entropy(logits.reshape(-1, V), x[:, 1:].reshape(-1), reduction='none').reshape(x.shape[0], -1)
    r = bif(emb, (xtr,), (xq,), tok_loss, chains=2, draws=30, progress=False, eps=1e-3, gamma=10., nbeta=12.)
    assert r.scores.shape == (n, S, q, S)
    seq = r.per_sequence()
    assert seq.scores.shape == (n, q)
    torch.testing.assert_close(r.scores.double().sum((1, 3)), seq.scores.double(), rtol=1e-4, atol=1e-6)


def test_divergence_error_names_the_step_size():
    model, train, query = _linreg()
    with pytest.raises(SGLDDivergence, match=r'Lower the step size: eps=0.5') as e:
        bif(model, train, query, squared_loss, chains=2, draws=20, eps=0.5, batch_size=len(train[0]), progress=False)
    assert 'batch_size' not in str(e.value)  # full batch: no minibatch noise to blame
    with pytest.raises(SGLDDivergence, match=r'or a larger batch_size \(now 10 of 60\)'):
        bif(model, train, query, squared_loss, chains=2, draws=20, eps=0.5, batch_size=10, progress=False)


def test_bad_inputs(tmp_path):
    model, train, query = _linreg()
    with pytest.raises(ValueError, match='share their first dimension'):
        bif(model, (train[0], train[1][:5]), query, squared_loss)
    with pytest.raises(ValueError, match='empty'):
        bif(model, (train[0][:0], train[1][:0]), query, squared_loss)
    with pytest.raises(ValueError, match=r'shape \[B\]'):
        bif(model, train, query, lambda m, b: squared_loss(m, b).sum())
    with pytest.raises(ValueError, match='not a bif_nbdev checkpoint|could not be read'):
        p = tmp_path / 'junk.safetensors'; p.write_bytes(b'not a checkpoint')
        bif(model, train, query, squared_loss, chains=2, draws=5, checkpoint=str(p), progress=False)


def test_save_load_roundtrip(tmp_path):
    model, train, query = _linreg()
    r = bif(model, train, query, squared_loss, chains=2, draws=10, progress=False)
    p = tmp_path / 'r.safetensors'; r.save(p)
    b = BIFResult.load(p)
    assert torch.equal(b.scores, r.scores) and torch.equal(b.corr, r.corr) and b.config['eps'] == r.config['eps']


def _separable_mlp():
    "A tanh MLP fitted (Adam, 300 steps) to a linearly separable 2-class problem of 200 points: (model, X, y)."
    torch.manual_seed(0)
    X = torch.randn(200, 4); y = (X[:, 0] + X[:, 1] > 0).long()
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(300):
        opt.zero_grad(); cross_entropy_loss(model, (X, y)).mean().backward(); opt.step()
    return model, X, y


def test_default_arguments_on_a_classifier():
    "bif(model, train, query, loss_fn) with every default, on an MLP: finite, sensible scores."
    model, X, y = _separable_mlp()
    r = bif(model, (X, y), (X[:10], y[:10]), cross_entropy_loss, draws=50, progress=False)
    assert torch.isfinite(r.scores).all() and r.config['eps'] > 0 and r.config['gamma'] > 0
    # a training example is, on average, its own strongest proponent: the diagonal is more negative than the rest
    self_scores = r.corr[torch.arange(10), torch.arange(10)]
    assert self_scores.mean() < r.corr[10:].mean() - 0.1


def test_calibration_names_its_stages_when_asked(capsys):
    "progress=True shows which calibration stage runs (minutes on a transformer); the values do not depend on it."
    model, train, query = _linreg()
    quiet = calibrate(model, train, squared_loss)
    capsys.readouterr()
    loud = calibrate(model, train, squared_loss, progress=True)
    err = capsys.readouterr().err
    for stage in ('Kronecker factors', 'Lanczos on H', 'preconditioned Lanczos', 'stability probe'): assert stage in err, (stage, err[-300:])
    assert set(loud.estimates['seconds']) >= {'Kronecker factors', 'Lanczos on H', 'preconditioned Lanczos'}
    assert (loud.eps, loud.gamma, loud.nbeta) == (quiet.eps, quiet.gamma, quiet.nbeta)


def test_auto_draws_that_miss_their_reliability_target_say_so():
    "A new user's trial: 'auto' draws stopped at max_draws below the target, and only R̂/ESS lines hinted at it."
    model, train, query = _linreg()
    hp = dict(chains=4, nbeta=60., gamma=6., eps=2e-3, batch_size=60, burnin=50, thin=1, progress=False)
    with pytest.warns(UserWarning, match=r"draws='auto' stopped at max_draws=100 \(100 draws per chain\) with the scores' mean reliability"):
        r = bif(model, train, query, squared_loss, max_draws=100, reliability=0.999, **hp)
    assert r.config['reliability_target'] == 0.999 and '⚠ draws=\'auto\' stopped at max_draws=100' in repr(r)
    with pytest.warns(UserWarning, match=r"stopped at max_seconds=1e-06"):
        bif(model, train, query, squared_loss, max_seconds=1e-6, reliability=0.999, **hp)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error')   # the target met, or fixed draws: no note
        met = bif(model, train, query, squared_loss, max_draws=100, reliability=0.01, **hp)
        fixed = bif(model, train, query, squared_loss, draws=100, **hp)
    assert 'stopped at' not in repr(met) + repr(fixed) and 'reliability_target' not in fixed.config
    one = dict(hp, chains=1)   # review: with one chain (or pooled statistics) 'auto' cannot measure reliability, and says so
    with pytest.warns(UserWarning, match="draws='auto' could not measure the scores' reliability"):
        bif(model, train, query, squared_loss, max_draws=100, **one)
