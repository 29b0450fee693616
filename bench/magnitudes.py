"""The measurements behind tests/test_magnitudes.py and chapter 5c's margin (issue 13, items 4-6). Prints tables.

    python bench/magnitudes.py survey [--draws 40]      # closed-form slope of the sampler over data draws: the engine and alternatives
    python bench/magnitudes.py coverage [--groups 10]   # sd(z) over groups of five seeds (linear regression, defaults)
    python bench/magnitudes.py coverage --mlp [--draws 100|auto]   # the same on the MLP, one calibration
    python bench/magnitudes.py false-alarms             # chapter 5c's rule with the damping unchanged (pairs of reseeds)

Single-threaded; survey about 1 s per draw, coverage 10-15 s per group (linear regression), false-alarms about a minute.
"""
import argparse, dataclasses, itertools, math, os, sys, time, warnings
import torch
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests'))
from test_magnitudes import (noisy_linreg, noisy_mlp, with_ones, sampler_covariance, _slope_of, expected_sd, chain_stats, sd_z,
                             permutation_sd)
from bif_nbdev.all import bif, calibrate, sample, squared_loss, cross_entropy_loss
from bif_nbdev.bif import sampling_cost, SamplingArguments
from bif_nbdev.calibrate import default_batch_size, noise_batch_size

def survey(draws:int):
    "Closed-form slope of the sampler's scores on the exact BIF, over data draws (σ = 1; σ only rescales the residuals)."
    rows = []
    print(f"{'draw':>4} {'B':>4} {'engine':>7} {'true Σ':>7} {'EK-FAC':>7} {'κ·tr':>7} {'bn 0.8':>7}")
    for seed in range(draws):
        model, train, query, sol = noisy_linreg(1.0, seed=seed)
        n = len(train[0])
        cal = calibrate(model, train, squared_loss, budget=sampling_cost(SamplingArguments(), n, len(query[0]), default_batch_size(n)),
                        scheme='lm')   # the closed form is the Leimkuhler-Matthews recursion's
        X, Y, Xq, Yq = with_ones(train[0]), train[1].double(), with_ones(query[0]), query[1].double()
        slope = lambda c, **kw: _slope_of(sampler_covariance(c, X, Y, sol, **kw)[0], c, X, Y, Xq, Yq, sol)
        _, Sigma = sampler_covariance(cal, X, Y, sol)
        d = X.shape[1]; I = torch.eye(d, dtype=torch.float64)
        from test_magnitudes import _as_matrix
        M = _as_matrix(cal.precond.apply, d, list(cal.precond.names), cal.precond.shapes)
        F = (torch.linalg.inv(M) - cal.gamma * I) / (cal.nbeta * cal.precond.scale)    # the K-FAC Fisher the preconditioner holds
        e, Q = torch.linalg.eigh(F)
        F_ek = Q @ torch.diag(torch.diag(Q.T @ Sigma @ Q)) @ Q.T                         # EK-FAC: its eigenbasis, eigenvalues refitted
        F_tr = F * (torch.trace(M @ Sigma) / torch.trace(M @ F))                        # one scalar: the traces matched
        cal8 = calibrate(model, train, squared_loss, budget=sampling_cost(SamplingArguments(), n, len(query[0]), default_batch_size(n)), batch_noise=0.8, scheme='lm')
        r = [slope(cal), slope(cal, fisher=Sigma), slope(cal, fisher=F_ek), slope(cal, fisher=F_tr), slope(cal8)]
        rows.append(r)
        print(f"{seed:4d} {cal.batch_size:4d} " + ' '.join(f"{x:7.3f}" for x in r), flush=True)
    a = torch.tensor(rows)
    names = ['engine (defaults)', 'true Σ in the correction', 'EK-FAC refit of its F', 'its F, traces matched', 'batch_noise 0.8 (former)']
    print()
    for j, nm in enumerate(names):
        c = a[:, j]
        print(f"{nm:28s} mean {c.mean():.3f} sd {c.std():.3f} min {c.min():.3f} max {c.max():.3f} outside [0.9, 1.1]: {((c < .9) | (c > 1.1)).sum()}/{len(c)}")

def coverage(groups:int, mlp:bool, draws):
    "sd(z) of groups of five seeds, with the former stderr (std of the chains' covariances / √C) and with the engine's (the jackknife over chains); the permutation sd of each."
    if mlp:
        model, X, y = noisy_mlp(); train, query, loss = (X, y), (X[:20], y[:20]), cross_entropy_loss
        cal = calibrate(model, train, loss, budget=sampling_cost(SamplingArguments(draws=draws), len(X), 20, default_batch_size(len(X))))
        run = lambda s: sample(model, train, query, loss, cal, draws=draws, seed=s, keep_trajectories=True, progress=False)
    else:
        model, train, query, _ = noisy_linreg(1.0)
        run = lambda s: bif(model, train, query, squared_loss, seed=s, draws=draws, keep_trajectories=True, progress=False)
    e = expected_sd(8, 5)
    print(f"expected sd(z) with honest error bars: {e:.3f} (8 chains, 5 seeds)")
    for g in range(groups):
        t = time.time()
        runs = [run(s) for s in range(5 * g, 5 * g + 5)]
        stats = [chain_stats(r) for r in runs]
        print(f"seeds {5 * g}-{5 * g + 4}: former std/√C sd(z) {sd_z(stats):.3f} (permutation sd {permutation_sd(stats):.3f}), "
              f"jackknife (the engine's) {sd_z(stats, True):.3f} ({permutation_sd(stats, jackknife=True):.3f}); "
              f"R̂ {min(r.rhat for r in runs):.2f}-{max(r.rhat for r in runs):.2f}, draws {sorted({r.config['draws'] for r in runs})}, {time.time() - t:.0f}s", flush=True)

def false_alarms():
    "How often chapter 5c's rule flags a query when the 'damping rerun' is a reseed (factor 1, an independent seed)."
    from bif_nbdev.trust import trust_summary
    from torch import nn
    def notebook_linreg(n=200, q=20, d=6, seed=0):  # chapter 5c's linear regression
        g = torch.Generator().manual_seed(seed)
        w = torch.randn(d, generator=g); X = torch.randn(n + q, d, generator=g)
        y = X @ w + 0.5 + torch.randn(n + q, generator=g)
        sol = torch.linalg.lstsq(torch.cat([torch.ones(n, 1), X[:n]], 1), y[:n, None]).solution[:, 0]
        model = nn.Linear(d, 1)
        with torch.no_grad(): model.bias.fill_(sol[0].item()); model.weight.copy_(sol[1:][None])
        return model, (X[:n], y[:n]), (X[n:], y[n:])
    for name in ('linear regression', 'MLP (200 draws)'):
        if name.startswith('linear'): model, train, query = notebook_linreg(); loss, kw = squared_loss, {}
        else: model, X, y = noisy_mlp(); train, query, loss, kw = (X, y), (X[:20], y[:20]), cross_entropy_loss, dict(draws=200)
        r0 = bif(model, train, query, loss, progress=False, **kw)
        d0, nb = r0.config['gamma'] / r0.config['nbeta'], r0.config['nbeta']
        runs = [bif(model, train, query, loss, progress=False, damping=d0, nbeta=nb, seed=s, **kw) for s in range(1, 6)]
        for margin in (0.1, 0.2, 0.3):
            flagged = total = 0; overlap = []
            for a, b in itertools.permutations(range(5), 2):
                rep = trust_summary(r0, {1.: runs[a]}, {b + 1: runs[b]}, margin=margin)
                flagged += len(rep.damping_sensitive); total += rep.n_query; overlap.append(rep.reseed_overlap.mean().item())
            print(f"{name}: margin {margin}: flagged {flagged} of {total} queries (mean reseed overlap {sum(overlap) / len(overlap):.2f})")

if __name__ == '__main__':
    torch.set_num_threads(1); warnings.filterwarnings('ignore')
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('what', choices=('survey', 'coverage', 'false-alarms'))
    p.add_argument('--draws', default=None); p.add_argument('--groups', type=int, default=10); p.add_argument('--mlp', action='store_true')
    a = p.parse_args()
    if a.what == 'survey': survey(int(a.draws or 40))
    elif a.what == 'coverage':
        d = a.draws or (100 if a.mlp else 'auto')
        coverage(a.groups, a.mlp, d if d == 'auto' else int(d))
    else: false_alarms()
