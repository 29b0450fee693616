"""The development suite of issue 13: LDS of each method on each suite setting, and the curvature measurements a
damping rule is chosen from. Not a test.

    PYTHONPATH=$PWD BIF_NBDEV_CACHE=/work/cache python bench/suite.py --half all
    PYTHONPATH=$PWD python bench/suite.py --half dev --methods bif --bif-kwargs '{"chains": 32}' --bif-label '32x200'
    PYTHONPATH=$PWD python bench/suite.py --ground-truth-only --half all     # retrain only (cached)
    PYTHONPATH=$PWD python bench/suite.py --show bench/results/suite_all.json  # print the tables of a saved run

Settings and halves: `bif_nbdev.lds.SUITE` ('dev': rules are tuned there; 'val': rules are reported there).
Ground truth: `suite_ground_truth` (50 random half-subsets x 2 retraining seeds, cached under $BIF_NBDEV_CACHE/lds).
LDS is mean +- standard error over queries (std/sqrt(q)). Wall time: scoring only (BIF: calibration included).
Scores follow the project's sign (change of the query loss per up-weighting; negative = helpful).

Dampings are absolute, on the scale of the Hessian of the MEAN training loss (weight decay not included):
- exact IF: -g_q^T (H + lambda I)^-1 g_i from one eigendecomposition of the dense H (bif_nbdev.influence.hessian),
  for d <= --if-max-params; where lambda <= -lambda_min(H) the matrix is indefinite: that LDS is marked '*'.
- EK-FAC / K-FAC (kronfluence through bif_nbdev.baselines.attribute): 'kronfluence default' is kronfluence's own
  ScoreArguments.damping_factor = 1e-8; 'heuristic' is our wrapper's damping=None, passed on as damping_factor=None,
  for which kronfluence adds 0.1 x the mean of each module's (E)K-FAC eigenvalues (a separate value per layer);
  'best lambda, optimistic' is the best of the grid, chosen on the same queries it is scored on.
"""
import argparse, hashlib, json, math, os, sys, time
from pathlib import Path
import numpy as np
import torch
from bif_nbdev.core import per_example_losses, squared_loss, trainable_params, flatten_params, unflatten_params
from bif_nbdev.lds import SUITE, suite_settings, suite_ground_truth, noise_ceiling, lds_from_truth, LDSResult
from bif_nbdev.influence import hessian, per_example_grads
from bif_nbdev.baselines import attribute, kronfluence_available
from bif_nbdev.sgld import LocalPosterior
from bif_nbdev.precond import hvp_fn, calibration_batch
from bif_nbdev.bif import bif
from bif_nbdev.calibrate import calibrate

GRID = [float(f'{10 ** (k / 2):.3g}') for k in range(-10, 1)]   # 1e-5, 3.16e-5, ..., 0.316, 1 (half-decades)
TRAK_GRID = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
KRON_DEFAULT = 1e-8   # kronfluence.arguments.ScoreArguments.damping_factor's default
METHODS = ('if', 'ekfac', 'kfac', 'trak', 'grad_dot', 'bif')


def timed(f):
    t = time.perf_counter(); out = f(); return out, time.perf_counter() - t


def summary(rf, secs=None, **extra):
    "LDS mean, standard error over queries (std/sqrt(q)), std, number of queries (and of flat ones, scored 0), seconds."
    r, flat = rf
    q = len(r.per_query)
    d = dict(lds=r.mean, se=r.std / math.sqrt(q), std=r.std, queries=q)
    if flat: d['flat_queries'] = flat
    if secs is not None: d['seconds'] = secs
    return {**d, **extra}


def lds_scored(scores, gt):
    "(LDSResult, flat): `lds_from_truth`, except that a query whose predictions are all equal (e.g. BIF's scores of a "
    "query whose loss is 0.0 in float32 at every draw) counts as LDS 0 (no ranking) instead of failing the method."
    s = torch.as_tensor(scores).detach().double().cpu()
    P = gt.masks.astype(np.float64) @ s.numpy()
    flat = np.flatnonzero(np.ptp(P, axis=0) == 0)
    if len(flat) == 0: return lds_from_truth(s, gt.masks, gt.losses), 0
    keep = np.setdiff1d(np.arange(s.shape[1]), flat)
    r = lds_from_truth(s[:, keep], gt.masks, gt.losses[:, :, keep])   # queries with a constant ground truth drop out here
    truth_const = np.ptp(gt.losses.mean(1), axis=0) == 0
    zeros = int(sum(not truth_const[q] for q in flat))
    return LDSResult(np.concatenate([r.per_query, np.zeros(zeros)]), r.n_subsets), zeros


def query_score(st, model):
    "Query accuracy (classifiers) or R^2 (regressors)."
    X, y = st.query
    with torch.no_grad(): out = model(X)
    if st.loss_fn is squared_loss: return 1 - ((out.reshape(y.shape) - y) ** 2).mean().item() / y.var(unbiased=False).item()
    return (out.argmax(1) == y).float().mean().item()


def _cache_path(st, what):
    base = os.environ.get('BIF_NBDEV_CACHE')
    root = Path(base) if base else Path.home() / '.cache' / 'bif_nbdev'
    digest = hashlib.sha256(json.dumps(dict(setting=st.key(), what=what), sort_keys=True).encode()).hexdigest()[:20]
    return root / 'suite' / f'{st.name}-{what}-{digest}.pt'


def hessian_eig(st, model):
    "Eigenvalues and eigenvectors (float64) of the mean-loss Hessian at w* (seed-0 model), cached; and the seconds spent."
    path = _cache_path(st, 'hessian-eig-v1')
    if path.exists():
        z = torch.load(path); return z['e'], z['V'], 0.0
    conv = any(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    t = time.perf_counter()
    d = sum(v.numel() for v in trainable_params(model).values())
    H = hessian(model, st.train, st.loss_fn, batch_size=16 if conv else 64, max_params=d).double()
    e, V = torch.linalg.eigh(H)
    secs = time.perf_counter() - t
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix('.tmp'); torch.save(dict(e=e, V=V), tmp); os.replace(tmp, path)
    return e, V, secs


def if_scores_fn(st, model, e, V):
    "lambda -> exact-IF scores -(G_train V) diag(1/(e + lambda)) (G_query V)^T, [n_train, n_query]."
    A = per_example_grads(model, st.train, st.loss_fn).double() @ V
    B = per_example_grads(model, st.query, st.loss_fn).double() @ V
    return lambda lam: -((A / (e + lam)) @ B.T)


def lanczos_lambda_min(post, examples=512, seed=0, ncv=40):
    "(λ_min, HVPs): the smallest eigenvalue of the mean-loss Hessian on bif's calibration batch, by Lanczos (scipy's eigsh)."
    from scipy.sparse.linalg import eigsh, LinearOperator, ArpackNoConvergence
    hvp, like, calls = hvp_fn(post, calibration_batch(post, examples, seed)), post.center, [0]
    def mv(x):
        calls[0] += 1
        v = unflatten_params(torch.as_tensor(np.ravel(x), dtype=torch.float32), like)
        with torch.enable_grad(): return flatten_params(hvp(v)).double().numpy()
    op = LinearOperator((post.dim, post.dim), matvec=mv, dtype=np.float64)
    v0 = np.random.default_rng(seed).normal(size=post.dim)
    try: lam = eigsh(op, k=1, which='SA', ncv=min(ncv, post.dim - 1), tol=1e-2, maxiter=20, v0=v0)[0][0]
    except ArpackNoConvergence as e: lam = e.eigenvalues[0] if len(e.eigenvalues) else float('nan')
    return float(lam), calls[0]


def measure(st, model, exact_eig=None):
    "The quantities a damping rule could be built from, at w* (the seed-0 model trained on all of train)."
    n, lf = st.n_train, st.loss_fn
    m = dict(n=n, d=sum(v.numel() for v in trainable_params(model).values()), n_query=len(st.query[0]),
             optimizer=st.optimizer, batch_size=st.batch_size, weight_decay=st.weight_decay, steps=st.steps, lr=st.lr,
             recipe=st.recipe, loss=lf.__name__, arch=repr(model).replace('\n', ' '), description=st.description)
    m['train_loss'] = per_example_losses(model, st.train, lf).mean().item()
    m['query_loss'] = per_example_losses(model, st.query, lf).mean().item()
    m['query_score'] = query_score(st, model)
    G = per_example_grads(model, st.train, lf).double()
    m['fisher_trace_per_d'] = (G ** 2).sum(1).mean().item() / m['d']     # tr(empirical Fisher)/d = mean ||g_i||^2 / d
    m['grad_norm'] = G.mean(0).norm().item()                              # ||grad of the mean loss|| at w*
    w2 = sum((v.double() ** 2).sum().item() for v in trainable_params(model).values())
    m['w_rms'] = math.sqrt(w2 / m['d'])
    # what bif()'s calibration estimates (its defaults, seed 0)
    post = LocalPosterior(model, st.train, lf, float(n), 0.0)
    est = calibrate(model, st.train, lf).estimates
    m['est_lambda_max'], m['est_lambda_min'] = est['lambda_max'], est['lambda_min']
    m['lanczos_lambda_min'], m['lanczos_hvps'] = lanczos_lambda_min(post, 512, seed=0)   # 512 examples, by scipy's Lanczos
    if exact_eig is not None:
        e = exact_eig
        m['lambda_max'], m['lambda_min'], m['mean_eig'] = e[-1].item(), e[0].item(), e.mean().item()
        m['neg_eig_fraction'] = (e < 0).double().mean().item()
        m['eig_quantiles'] = {q: e.quantile(q).item() for q in (0.5, 0.9, 0.99)}
    return m


def run_setting(name, methods, bif_recipes, args):
    st, gt = suite_ground_truth(name, verbose=True)
    model = st.trained_model(seed=0)
    lf, tr, q = st.loss_fn, st.train, st.query
    score = lambda s: lds_scored(s, gt)
    nc = noise_ceiling(gt)
    out = dict(half=SUITE[name], ceiling=dict(r=nc.r, spearman_brown=nc.spearman_brown, excluded=len(nc.excluded)),
               methods={}, curves={})
    d = sum(v.numel() for v in model.parameters())
    eig = None
    if 'if' in methods and d <= args.if_max_params:
        e, V, hsecs = hessian_eig(st, model); eig = e
    out['measurements'] = measure(st, model, eig)
    print(f"\n## {name} ({SUITE[name]}): n={st.n_train}, d={d}, {st.recipe}; ceiling r={nc.r:.3f}, 2r/(1+r)={nc.spearman_brown:.3f}", flush=True)
    M = out['methods']
    if eig is not None:
        out['measurements']['hessian_seconds'] = hsecs
        f, gsecs = timed(lambda: if_scores_fn(st, model, e, V))
        curve = {}
        grid = GRID + ([st.weight_decay] if st.weight_decay > 0 and st.weight_decay not in GRID else [])
        for lam in grid:
            s, secs = timed(lambda: f(lam))
            curve[f'{lam:g}'] = summary(score(s), secs + gsecs, indefinite=bool(e[0].item() + lam <= 0))
        out['curves']['exact_if'] = {k: v for k, v in curve.items() if float(k) in GRID}
        best = max((k for k in out['curves']['exact_if']), key=lambda k: curve[k]['lds'])
        M['exact IF (best λ, optimistic)'] = {**curve[best], 'damping': float(best)}
        if st.weight_decay > 0: M['exact IF (λ = weight decay)'] = {**curve[f'{st.weight_decay:g}'], 'damping': st.weight_decay}
        print(f"exact IF: Hessian + eigh {hsecs:.1f} s (0 = cached); best λ {best}: LDS {curve[best]['lds']:.3f}", flush=True)
    elif 'if' in methods: print(f"exact IF skipped: d={d} > --if-max-params {args.if_max_params}; EK-FAC's curve stands in")
    for meth in ('ekfac', 'kfac'):
        if meth not in methods: continue
        if not kronfluence_available(): print('kronfluence not installed: EK-FAC/K-FAC skipped'); break
        lab = {'ekfac': 'EK-FAC', 'kfac': 'K-FAC'}[meth]
        run = lambda lam: timed(lambda: attribute(meth, model, tr, q, lf, damping=lam))
        s, secs = run(KRON_DEFAULT); M[f'{lab} (kronfluence default λ=1e-8)'] = summary(score(s), secs, damping=KRON_DEFAULT)
        s, secs = run(None); M[f'{lab} (heuristic: 0.1 × mean eigenvalue per module)'] = summary(score(s), secs, damping=None)
        curve = {}
        for lam in GRID:
            s, secs = run(lam); curve[f'{lam:g}'] = summary(score(s), secs)
        out['curves'][meth] = curve
        best = max(curve, key=lambda k: curve[k]['lds'])
        M[f'{lab} (best λ, optimistic)'] = {**curve[best], 'damping': float(best)}
        print(f"{lab}: done, best λ {best}", flush=True)
    if 'trak' in methods:
        best = None
        for lam in TRAK_GRID:
            s, secs = timed(lambda: attribute('trak', model, tr, q, lf, proj_dim=args.proj_dim, damping=lam))
            r = summary(score(s), secs, damping=lam)
            if best is None or r['lds'] > best['lds']: best = r
        M[f'TRAK k={args.proj_dim} (best λ, optimistic)'] = best
    if 'grad_dot' in methods:
        s, secs = timed(lambda: attribute('grad_dot', model, tr, q, lf)); M['grad dot'] = summary(score(s), secs)
    for label, kw in bif_recipes:
        try:
            res, secs = timed(lambda: bif(model, tr, q, lf, progress=False, **kw))
            c = res.config
            M[f'BIF ({label})'] = summary(score(res.scores), secs, kwargs=kw, gamma=c['gamma'], nbeta=c['nbeta'], eps=c['eps'],
                                          implied_damping=c['gamma'] / c['nbeta'], ess=res.ess, rhat=res.rhat,
                                          chains_kept=len(c.get('chains_kept') or []), batch_size=c['batch_size'], draws=c['draws'],
                                          thin=c['thin'], burnin=c['burnin'])
        except Exception as ex:   # a failed recipe is a result too
            M[f'BIF ({label})'] = dict(error=f'{type(ex).__name__}: {str(ex)[:300]}', kwargs=kw)
        print(f"BIF ({label}): {M[f'BIF ({label})'].get('lds', M[f'BIF ({label})'].get('error'))}", flush=True)
    return out


# ---------- printing ----------

def seconds(r, lab, v):
    "Wall time of a method; exact IF's includes the dense Hessian and its eigendecomposition (once per setting)."
    return v['seconds'] + (r['measurements'].get('hessian_seconds', 0.0) if lab.startswith('exact IF') else 0.0)


def flat_mark(v): return f" (†{v['flat_queries']})" if v.get('flat_queries') else ''


def fmt(r, v, lab):
    if 'error' in v: return 'failed: ' + v['error'][:60], ''
    return f"{v['lds']:.3f} ± {v['se']:.3f}" + flat_mark(v), f"{seconds(r, lab, v):.2f}"


def short(lab):
    "A column title for a method label."
    return (lab.replace('kronfluence default λ=1e-8', 'λ=1e-8').replace('heuristic: 0.1 × mean eigenvalue per module', 'heur.')
               .replace('best λ, optimistic', 'best λ').replace('λ = weight decay', 'λ=wd').replace('defaults: 8×200', 'previous defaults, 8×200'))


def print_wide(res, p):
    "One row per setting, one column per method: LDS, then the wall times."
    labs = list(dict.fromkeys(l for r in res['settings'].values() for l in r['methods']))
    for what in ('LDS (± SE over queries)', 'wall time (s), scoring only (exact IF: with the dense Hessian and its eigendecomposition; BIF: with calibration)'):
        p(f'\n### {what}; one row per setting\n')
        p('| half | setting | ceiling 2r/(1+r) | ' + ' | '.join(short(l) for l in labs) + ' |'); p('|---|---|---|' + '---|' * len(labs))
        for name, r in res['settings'].items():
            cells = []
            for l in labs:
                v = r['methods'].get(l)
                if v is None: cells.append('–'); continue
                if 'error' in v: cells.append('failed'); continue
                cells.append(f"{v['lds']:.2f} ± {v['se']:.2f}{flat_mark(v)}" if what.startswith('LDS') else f"{seconds(r, l, v):.1f}")
            p(f"| {r['half']} | {name} | {r['ceiling']['spearman_brown']:.2f} | " + ' | '.join(cells) + ' |')


CANDIDATES = {   # quantities a damping rule could scale with, from the measurements at w*
    'λ_max': lambda m: m.get('lambda_max'), '−λ_min': lambda m: -m['lambda_min'] if m.get('lambda_min', 0) < 0 else None,
    'tr(H)/d': lambda m: m.get('mean_eig'), 'tr(F)/d': lambda m: m.get('fisher_trace_per_d'),
    'weight decay': lambda m: m['weight_decay'] or None,
    "bif's est. λ_max": lambda m: m.get('est_lambda_max'),
    "bif's est. −λ_min": lambda m: -m['est_lambda_min'] if m.get('est_lambda_min', 0) < 0 else None,
    'Lanczos −λ_min (512 examples)': lambda m: -m['lanczos_lambda_min'] if m.get('lanczos_lambda_min', 0) < 0 else None}


def print_tracking(res, p):
    "How tightly the best damping of a curve follows each candidate quantity: the spread of log10(best λ / quantity)."
    for key, title in (('exact_if', 'exact IF'), ('ekfac', 'EK-FAC')):
        best = {n: float(max(r['curves'][key], key=lambda k: r['curves'][key][k]['lds']))
                for n, r in res['settings'].items() if key in r['curves']}
        if len(best) < 3: continue
        p(f"\n### Which quantity the best {title} damping follows (grid of half-decades: resolution ±0.25 in log10)\n")
        p('| quantity | settings | median of best λ / quantity | sd of log10(best λ / quantity) | range of best λ / quantity |')
        p('|---|---|---|---|---|')
        sd = np.std(np.log10(list(best.values())))
        p(f"| (none: a constant λ) | {len(best)} | {np.median(list(best.values())):.3g} | {sd:.2f} | {min(best.values()):.3g} – {max(best.values()):.3g} |")
        for name, f in CANDIDATES.items():
            ratios = [b / f(res['settings'][n]['measurements']) for n, b in best.items() if f(res['settings'][n]['measurements'])]
            if len(ratios) < 3: continue
            p(f"| {name} | {len(ratios)} | {np.median(ratios):.3g} | {np.std(np.log10(ratios)):.2f} | {min(ratios):.3g} – {max(ratios):.3g} |")


def print_tables(res, file=sys.stdout, wide=False):
    p = lambda *a: print(*a, file=file)
    if wide: print_wide(res, p)
    else:
        p('\n### LDS per setting and method (mean ± standard error over queries; time = scoring only; exact IF with its dense Hessian and eigendecomposition, BIF with its calibration)\n')
        p('| half | setting | method | LDS ± SE | time (s) |'); p('|---|---|---|---|---|')
        for name, r in res['settings'].items():
            for lab, v in r['methods'].items():
                l, t = fmt(r, v, lab)
                if 'damping' in v and v['damping'] is not None and 'best' in lab: lab = lab.replace('best λ', f"best λ={v['damping']:g}")
                p(f"| {r['half']} | {name} | {lab} | {l} | {t} |")
    p('\n### Measurements at w* (Hessian of the mean training loss, no weight-decay term)\n')
    p('| half | setting | n | d | recipe | loss | train loss | query acc/R² | λ_max | λ_min | tr(H)/d | est. λ_max | est. λ_min | est. tr(H)/d '
      '| Lanczos λ_min | tr(F)/d | ceiling r | 2r/(1+r) | best IF λ | best EK-FAC λ | BIF γ/nβ |')
    p('|' + '---|' * 21)
    g = lambda m, k, f='.3g': format(m[k], f) if m.get(k) is not None else '–'
    for name, r in res['settings'].items():
        m, c, cv = r['measurements'], r['ceiling'], r['curves']
        bi = max(cv['exact_if'], key=lambda k: cv['exact_if'][k]['lds']) if 'exact_if' in cv else '–'
        be = max(cv['ekfac'], key=lambda k: cv['ekfac'][k]['lds']) if 'ekfac' in cv else '–'
        bd = r['methods'].get('BIF (defaults: 8×200)', {}).get('implied_damping')
        bd = '–' if bd is None else f'{bd:.3g}'
        p(f"| {r['half']} | {name} | {m['n']} | {m['d']} | {m['recipe']} | {m['loss'].replace('_loss', '')} | {g(m, 'train_loss')} | "
          f"{g(m, 'query_score', '.3f')} | {g(m, 'lambda_max')} | {g(m, 'lambda_min')} | {g(m, 'mean_eig')} | {g(m, 'est_lambda_max')} | "
          f"{g(m, 'est_lambda_min')} | {g(m, 'est_mean_eig')} | {g(m, 'lanczos_lambda_min')} | {g(m, 'fisher_trace_per_d')} | {c['r']:.3f} | {c['spearman_brown']:.3f} | {bi} | {be} | {bd} |")
    print_tracking(res, p)
    for key, title in (('exact_if', 'exact IF'), ('ekfac', 'EK-FAC')):
        rows = [(n, r) for n, r in res['settings'].items() if key in r['curves']]
        if not rows: continue
        p(f"\n### {title}: LDS against the absolute damping λ (best per setting in bold" +
          ("; * = H + λI indefinite, λ ≤ −λ_min)\n" if key == 'exact_if' else ")\n"))
        p('| half | setting | ' + ' | '.join(f'{x:g}' for x in GRID) + ' |'); p('|---|---|' + '---|' * len(GRID))
        for n, r in rows:
            cv = r['curves'][key]; best = max(cv, key=lambda k: cv[k]['lds'])
            cells = []
            for x in GRID:
                v = cv.get(f'{x:g}')
                if v is None: cells.append('–'); continue
                s = f"{v['lds']:.2f}" + ('*' if v.get('indefinite') else '')
                cells.append(f'**{s}**' if f'{x:g}' == best else s)
            p(f"| {r['half']} | {n} | " + ' | '.join(cells) + ' |')


EKFAC_HEUR = 'EK-FAC (heuristic: 0.1 × mean eigenvalue per module)'
LM_LABEL = "BIF (scheme 'lm', former default)"


def print_summary(res, file=sys.stdout):
    """Issue 13's table: BIF with its defaults against EK-FAC (kronfluence, its heuristic damping) per setting, the
    difference with its standard error (the two methods are scored on the same queries: SE of the per-query
    differences is not saved, so the SE shown is sqrt(SE_a² + SE_b²), conservative when the two are positively
    correlated), time ratio, and the sampler's diagnostics; then the mean of each half."""
    p = lambda *a: print(*a, file=file)
    best_if = lambda ms: next((v for k, v in ms.items() if k.startswith('exact IF (best')), None)
    prev = 'BIF (defaults: 8×200)'
    lm = any(LM_LABEL in st['methods'] for st in res['settings'].values())   # the 'lm' scheme beside the 'baoab' default
    p('| half | setting | ceiling 2r/(1+r) | exact IF (best λ, optimistic) | EK-FAC (heur.) | BIF, previous defaults (8×200) '
      + ("| BIF, scheme 'lm' (former default): LDS, s " if lm else '') + '| **BIF (defaults)** | BIF − EK-FAC | time BIF / EK-FAC | BIF ε, ESS, R̂, chains kept |')
    p('|---|---|---|---|---|---|---|---|---|---|' + ('---|' if lm else ''))
    halves = {}
    for n, st in res['settings'].items():
        ms = st['methods']; b, e, o, x = ms.get('BIF (defaults)'), ms.get(EKFAC_HEUR), ms.get(prev), best_if(ms)
        if not (b and e and 'lds' in b and 'lds' in e): continue
        f = lambda v: f"{v['lds']:.3f} ± {v['se']:.3f}" if v and 'lds' in v else '–'
        diff, se = b['lds'] - e['lds'], math.hypot(b['se'], e['se'])
        v = ms.get(LM_LABEL)
        halves.setdefault(st['half'], []).append((b['lds'], e['lds'], b['se'], e['se'], b['seconds'] / e['seconds'],
                                                  v['lds'] if v and 'lds' in v else float('nan'))); lm_cell = (f"{f(v)}, {v['seconds']:.1f} | " if v and 'lds' in v else '– | ') if lm else ''
        p(f"| {st['half']} | {n} | {st['ceiling']['spearman_brown']:.2f} | {f(x)} | {f(e)} | {f(o)} | {lm_cell}**{f(b)}** | "
          f"{diff:+.3f} ± {se:.3f} | {b['seconds'] / e['seconds']:.0f}× | {b['eps']:.3g}, {b['ess']:.0f}, {b['rhat']:.3f}, {b['chains_kept']} |")
    p('')
    p('| half | settings | mean LDS, BIF (defaults) | mean LDS, EK-FAC (heur.) | mean difference ± SE | median time ratio |'
      + (" mean LDS, BIF scheme 'lm' |" if lm else ''))
    p('|---|---|---|---|---|---|' + ('---|' if lm else ''))
    for h, rows in halves.items():
        k = len(rows); mb = sum(r[0] for r in rows) / k; me = sum(r[1] for r in rows) / k
        se = math.sqrt(sum(r[2] ** 2 + r[3] ** 2 for r in rows)) / k
        ratios = sorted(r[4] for r in rows)
        p(f"| {h} | {k} | {mb:.3f} | {me:.3f} | {mb - me:+.3f} ± {se:.3f} | {ratios[k // 2]:.0f}× |"
          + (f" {sum(r[5] for r in rows) / k:.3f} |" if lm else ''))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--half', default='all', choices=['dev', 'val', 'all'])
    ap.add_argument('--settings', nargs='+', choices=list(SUITE), help='a subset of the suite (default: every setting of --half)')
    ap.add_argument('--methods', nargs='+', default=list(METHODS), choices=METHODS)
    ap.add_argument('--no-bif-defaults', action='store_true', help="skip BIF with its defaults (the 'before' row)")
    ap.add_argument('--bif-kwargs', action='append', default=[], help="JSON of bif() keyword arguments; repeatable")
    ap.add_argument('--bif-label', action='append', default=[], help='a label per --bif-kwargs (default: the JSON)')
    ap.add_argument('--if-max-params', type=int, default=6000, help='largest d for the exact (dense) Hessian')
    ap.add_argument('--proj-dim', type=int, default=1024, help="TRAK's projection dimension")
    ap.add_argument('--out', help='JSON file (default: bench/results/suite_<half>.json, or suite_custom.json with --settings)')
    ap.add_argument('--update', metavar='JSON', help='rerun the chosen methods/settings and update this saved run in place')
    ap.add_argument('--ground-truth-only', action='store_true', help='retrain (cached) and print the noise ceilings only')
    ap.add_argument('--show', metavar='JSON', help='print the tables of a saved run and exit')
    ap.add_argument('--wide', action='store_true', help='with --show: one row per setting, one column per method')
    ap.add_argument('--summary', action='store_true', help='with --show: BIF (defaults) against EK-FAC per setting and per half')
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.show:
        r = json.load(open(a.show))
        print_summary(r) if a.summary else print_tables(r, wide=a.wide); return
    names = a.settings or suite_settings(a.half)
    if a.settings: names = [n for n in names if a.half == 'all' or SUITE[n] == a.half]
    if a.ground_truth_only:
        for n in names:
            st, gt = suite_ground_truth(n, verbose=True); print(n, SUITE[n], gt, noise_ceiling(gt), flush=True)
        return
    if len(a.bif_label) > len(a.bif_kwargs): ap.error('more --bif-label than --bif-kwargs')
    recipes = [] if a.no_bif_defaults or 'bif' not in a.methods else [('defaults', {})]
    for i, js in enumerate(a.bif_kwargs):
        recipes.append((a.bif_label[i] if i < len(a.bif_label) else js, json.loads(js)))
    if a.update:   # rerun some methods on some settings of a saved run, replacing only what they produce
        out = Path(a.update); res = json.loads(out.read_text())
        res['commands'] = res.get('commands', [res.pop('command', '')]) + [' '.join(sys.argv)]
    else:
        out = Path(a.out or f"bench/results/suite_{'custom' if a.settings else a.half}.json")
        res = dict(commands=[' '.join(sys.argv)], grid=GRID, torch=torch.__version__, settings={})
    out.parent.mkdir(parents=True, exist_ok=True)
    for n in names:
        new = run_setting(n, a.methods, recipes, a)
        old = res['settings'].get(n)
        if old is None: res['settings'][n] = new
        else:
            for k in ('methods', 'curves', 'measurements', 'ceiling'): old[k].update(new[k])
        out.write_text(json.dumps(res, indent=1))   # after every setting: a long run keeps what it has
    print_tables(res)
    print(f'\nraw numbers: {out}')


if __name__ == '__main__':
    main()
