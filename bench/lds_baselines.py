"""LDS benchmark of the attribution baselines (not a test): prints a table per setting.

    PYTHONPATH=$PWD python bench/lds_baselines.py --settings digits_mlp cancer_logreg --m 50 --seeds 2

Ground truth (retraining on M random alpha-subsets, `seeds` runs each) is cached under $BIF_NBDEV_CACHE/lds or
~/.cache/bif_nbdev/lds, so a rerun only recomputes the scores. Wall time = scoring time only. Where a method has a
damping, the best value of a small grid is reported (selected on the same queries: an optimistic choice, stated);
BIF runs with its default hyperparameters (it calibrates its own damping, step and preconditioner; time included).
Sign convention of all scores: change of query loss per unit up-weighting of the training example (negative = helpful).
"""
import argparse, time
import torch
from bif_nbdev.lds import lds_setting, lds_ground_truth, lds, LDS_SETTINGS
from bif_nbdev.baselines import attribute, kronfluence_available
from bif_nbdev.influence import influence
from bif_nbdev.bif import bif

def exact_if(model, train, query, loss_fn, damping): return influence(model, train, query, loss_fn, damping=damping)
IF_SOURCE = 'bif_nbdev.influence.influence'
BIF_BUDGETS = {'BIF (defaults: 8x200)': {}, 'BIF (32x200, thin 2)': dict(chains=32, draws=200, thin=2),
               'BIF (32x400, thin 3)': dict(chains=32, draws=400, thin=3)}


def timed(f):
    t = time.perf_counter(); s = f(); return s, time.perf_counter() - t


def run(name, m, seeds, alpha, dampings, proj_dim, skip, bif_precond='auto'):
    st = lds_setting(name)
    gt = lds_ground_truth(st, m=m, alpha=alpha, seeds=seeds, verbose=True)
    cks = []
    model = st.fit(seed=0, checkpoints=cks, checkpoint_every=max(1, st.steps // 6))
    tr, q, lf = st.train, st.query, st.loss_fn
    rows = []
    def add(label, f):
        s, secs = timed(f); r = lds(s, gt); rows.append((label, r, secs)); return r
    if 'if' not in skip:
        best = None
        for d in dampings:
            try: s, secs = timed(lambda: exact_if(model, tr, q, lf, d))
            except ValueError as e: print(f'exact IF, damping {d:g} skipped: {str(e)[:90]}...'); continue
            r = lds(s, gt)
            if best is None or r.mean > best[1].mean: best = (f'exact IF (λ={d:g})', r, secs)
        rows.append(best)
    add('grad dot', lambda: attribute('grad_dot', model, tr, q, lf))
    add('grad cos', lambda: attribute('grad_cos', model, tr, q, lf))
    add(f'TracIn ({len(cks)} ckpts)', lambda: attribute('tracin', model, tr, q, lf, checkpoints=[c for _, c in cks], lrs=[l for l, _ in cks]))
    best = None
    for d in dampings:
        s, secs = timed(lambda: attribute('trak', model, tr, q, lf, proj_dim=proj_dim, damping=d)); r = lds(s, gt)
        if best is None or r.mean > best[1].mean: best = (f'TRAK k={proj_dim} (λ={d:g})', r, secs)
    rows.append(best)
    if kronfluence_available():
        for meth in ('ekfac', 'kfac'):
            best = None
            for d in [None] + list(dampings):
                s, secs = timed(lambda: attribute(meth, model, tr, q, lf, damping=d)); r = lds(s, gt)
                lab = f"{meth.upper().replace('EKFAC', 'EK-FAC').replace('KFAC', 'K-FAC')} (λ={'heur.' if d is None else f'{d:g}'})"
                if best is None or r.mean > best[1].mean: best = (lab, r, secs)
            rows.append(best)
    else: print('kronfluence not installed: EK-FAC/K-FAC skipped')
    if 'bif' not in skip:  # default hyperparameters (no damping grid: BIF picks its own); wall time includes calibration
        tag = '' if bif_precond == 'auto' else f', precond={bif_precond}'
        for lab, kw in BIF_BUDGETS.items(): add(lab[:-1] + tag + ')', lambda: bif(model, tr, q, lf, progress=False, precond=bif_precond, **kw).scores)
    p = sum(v.numel() for v in model.parameters())
    print(f"\n{name}: {st.n_train} train, {len(q[0])} query, {p} parameters; M={m} subsets (alpha={alpha}), "
          f"{seeds} seeds each, retraining {gt.seconds:.0f} s (0 = cached)")
    print(f"{'method':28s} {'LDS mean ± std':>16s} {'time (s)':>9s}")
    for lab, r, secs in rows: print(f"{lab:28s} {r.mean:7.3f} ± {r.std:5.3f} {secs:9.2f}")


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--settings', nargs='+', default=['digits_mlp', 'digits_mlp_small', 'cancer_logreg', 'cancer_mlp'], choices=LDS_SETTINGS)
    ap.add_argument('--m', type=int, default=100)
    ap.add_argument('--seeds', type=int, default=2)
    ap.add_argument('--alpha', type=float, default=0.5)
    ap.add_argument('--dampings', type=float, nargs='+', default=[1e-3, 3e-3, 1e-2, 3e-2, 1e-1])
    ap.add_argument('--proj-dim', type=int, default=1024)
    ap.add_argument('--skip', nargs='*', default=[], help="e.g. 'if' to skip the exact influence (slow for the CNN)")
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--bif-precond', default='auto', help="bif()'s precond: 'auto' (default) or 'kfac' (Kronecker blocks on conv layers too)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print('exact IF from', IF_SOURCE)
    for s in a.settings: run(s, a.m, a.seeds, a.alpha, a.dampings, a.proj_dim, a.skip, a.bif_precond)
