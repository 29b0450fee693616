"Checks of bif_nbdev.diagnostics from outside the notebook: against ArviZ when it is installed (it is not a dependency)."
import logging, math, warnings
import numpy as np, pytest, torch
from bif_nbdev.diagnostics import (split_rhat, rank_normalized_rhat, ess_basic, ess_bulk, ess_tail, rank_diagnostics,
                                   trace_diagnostics, ranking_noise, seed_agreement)


def ar1(chains, draws, rho, rng, shift=None):
    "AR(1) chains with unit stationary variance, started at stationarity (numpy, float64)."
    e = rng.standard_normal((chains, draws)) * math.sqrt(1 - rho ** 2)
    x = np.empty_like(e); x[:, 0] = e[:, 0] / math.sqrt(1 - rho ** 2)
    for t in range(1, draws): x[:, t] = rho * x[:, t - 1] + e[:, t]
    return x if shift is None else x + np.asarray(shift)[:, None]


def random_cases(seed=0, n=24):
    "Chains of every kind the diagnostics meet: mixed, offset, heavy-tailed, odd and even lengths, one to five chains."
    rng = np.random.default_rng(seed)
    for i in range(n):
        C, T = int(rng.integers(1, 6)), int(rng.integers(10, 500))
        if i % 3 == 0: yield ar1(C, T, float(rng.uniform(-0.5, 0.95)), rng)
        elif i % 3 == 1: yield ar1(C, T, float(rng.uniform(0, 0.9)), rng, shift=rng.normal(0, 1, C))
        else: yield rng.standard_cauchy((C, T))
    yield rng.standard_normal((3, 201, 4)) * np.array([1., 2, 3, 4]) + rng.standard_normal((3, 1, 4))


def test_matches_arviz():
    with warnings.catch_warnings():
        warnings.simplefilter('ignore'); az = pytest.importorskip('arviz')
    worst = {}
    for x in random_cases():
        with warnings.catch_warnings():
            warnings.simplefilter('ignore'); logging.disable(logging.WARNING)
            y = {'x': x} if x.ndim == 3 else x                              # ArviZ takes [chains, draws, ...] as a dataset
            ref = dict(rhat=az.rhat(y, method='rank'), split=az.rhat(y, method='split'), bulk=az.ess(y, method='bulk'),
                       tail=az.ess(y, method='tail'), basic=az.ess(y, method='mean'))
            logging.disable(logging.NOTSET)
        ours = dict(rhat=rank_normalized_rhat(x), split=split_rhat(x), bulk=ess_bulk(x), tail=ess_tail(x), basic=ess_basic(x))
        for k, v in ref.items():
            if x.shape[0] == 1 and k in ('rhat', 'split'): continue       # ArviZ gives no R̂ for one chain
            b = np.asarray(v['x'].values if hasattr(v, 'data_vars') else v, dtype=float)
            a = np.asarray(ours[k], dtype=float)
            assert np.isfinite(a).all() and np.isfinite(b).all(), (k, x.shape)
            worst[k] = max(worst.get(k, 0.), float(np.max(np.abs(a - b) / np.abs(b))))
    assert max(worst.values()) < 1e-9, worst


def test_inputs_of_every_kind():
    "float32 tensors, numpy arrays and lists give the same numbers; rank_diagnostics equals the three functions."
    x = ar1(4, 301, 0.5, np.random.default_rng(1))
    ref = (rank_normalized_rhat(x), ess_bulk(x), ess_tail(x))
    assert rank_diagnostics(x) == ref
    assert rank_diagnostics(x.tolist()) == ref
    assert np.allclose(rank_diagnostics(torch.tensor(x, dtype=torch.float32)), ref, rtol=1e-4)
    d = trace_diagnostics(torch.tensor(x, dtype=torch.float32), torch.tensor(x[..., None].repeat(3, -1)))
    assert d.per_query and d.query_rhat.shape == (3,) and d.train_ess_bulk == pytest.approx(ref[1], rel=1e-4)


def test_ranking_noise_and_seed_agreement_on_a_result_like_object():
    class Result:                                    # what ranking_noise and seed_agreement read from a BIFResult
        per_token = False
        scores = torch.arange(20.).reshape(10, 2)
        stderr = torch.full((10, 2), 0.1)
    rn = ranking_noise(Result(), k=3)
    assert rn.top_fraction.tolist() == [1.0, 1.0] and not rn.flag
    sa = seed_agreement(Result(), Result(), k=3)
    assert sa.pearson == pytest.approx(1.0) and sa.top_overlap.tolist() == [1.0, 1.0]
