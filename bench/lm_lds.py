"""LDS of attribution methods on the language-model retraining settings (bif_nbdev issue 15). Not a test.

    PYTHONPATH=$PWD BIF_NBDEV_CACHE=/work/cache python bench/lm_lds.py
    PYTHONPATH=$PWD python bench/lm_lds.py --settings lm_finetune --methods ekfac bif --bif-kwargs '{"chains": 16, "draws": 400}'

Settings: `bif_nbdev.lm_lds.lm_setting` ('lm_scratch', 'lm_finetune'; chapter 10b). Ground truth: M random half-subsets
of the training windows, `--seeds` retrains each (`lds_ground_truth`, cached under $BIF_NBDEV_CACHE/lds). Noise
ceiling: per query, Spearman over subsets between seed 0's and seed 1's retrained losses, averaged (r), and the
Spearman-Brown value 2r/(1+r) of the two-seed average that the methods are scored against.

Each method runs in its own forked child process, one after another: time = wall time of the call (calibration
included for BIF); memory = the child's RSS high-water mark (getrusage ru_maxrss) minus its RSS when the call
started (after glibc's malloc_trim, so that free heap inherited from the parent is not reused unseen), i.e. the
memory the method itself added (a forked child starts its high-water mark at its own RSS).
LDS ± SE: mean over queries of the per-query Spearman correlation, SE = std (ddof 1) / sqrt(#queries).
Scores of every method: change of the query's sequence loss per unit up-weighting of a training window
(negative = helpful). Raw numbers go to bench/results/lm_lds.json (entries of the settings and methods run are
replaced, others kept).
"""
import argparse, json, math, os, resource, sys, time, traceback
from pathlib import Path
import numpy as np
import torch
from bif_nbdev.lm_lds import lm_setting, retrain_noise_ceiling, LM_SETTINGS
from bif_nbdev.lds import lds_ground_truth, lds_from_truth
from bif_nbdev.baselines import attribute, kronfluence_available, projected_grads
from bif_nbdev.hf import causal_lm_loss, causal_lm_sequence_loss
from bif_nbdev.bif import bif

METHODS = ('grad_dot', 'trak', 'kfac', 'ekfac', 'ekfac_emp', 'bif', 'bif_token')
OUT = Path(__file__).parent / 'results' / 'lm_lds.json'


def _rss_mb():
    return int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20


def _trim():
    try:
        import ctypes; ctypes.CDLL('libc.so.6').malloc_trim(0)
    except OSError: pass


def in_child(fn):
    "Run fn() in a forked child: (its result, wall seconds, MB added to the RSS high-water mark), or an error string."
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        try:
            _trim()  # give the parent's free heap back to the OS first, so that reusing it counts as new memory
            rss0 = _rss_mb(); t = time.perf_counter()
            out = fn()
            secs = time.perf_counter() - t
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            payload = dict(ok=True, out=out, seconds=secs, mem_mb=peak - rss0, peak_rss_mb=peak)
        except BaseException as e:
            payload = dict(ok=False, error=f"{type(e).__name__}: {e}", trace=traceback.format_exc()[-3000:])
        import pickle
        with os.fdopen(w, 'wb') as f: pickle.dump(payload, f)
        os._exit(0)
    os.close(w)
    import pickle
    with os.fdopen(r, 'rb') as f: data = f.read()
    os.waitpid(pid, 0)
    return pickle.loads(data) if data else dict(ok=False, error='the child process died (out of memory?)')


def lds_summary(scores, gt):
    r = lds_from_truth(scores, gt.masks, gt.losses)
    pq = r.per_query
    return dict(lds=float(pq.mean()), se=float(pq.std(ddof=1) / math.sqrt(len(pq))), std=float(pq.std()),
                per_query=pq.tolist(), excluded=r.excluded.tolist())


def method_calls(name, st, model, args):
    "[(label, fn() -> dict with 'scores' [n, q] and extra fields)] for one method name."
    tr, q, lf = st.train, st.query, st.loss_fn
    if name == 'grad_dot':
        return [('gradient dot', lambda: dict(scores=attribute('grad_dot', model, tr, q, lf)))]
    if name == 'trak':
        # damping grid relative to the kernel's mean eigenvalue, about mean ||g_i||^2 / k for a Gaussian projection
        g2 = projected_grads(model, tr, lf).pow(2).sum(1).mean().item()
        out = []
        for rho in args.trak_rho:
            lam = rho * g2 / args.proj_dim
            out.append((f'TRAK k={args.proj_dim} (λ={rho:g}·tr/k)', lambda lam=lam, rho=rho: dict(
                scores=attribute('trak', model, tr, q, lf, proj_dim=args.proj_dim, damping=lam), damping=lam, rho=rho)))
        return out
    if name in ('ekfac', 'kfac', 'ekfac_emp'):
        if not kronfluence_available(): return []
        strat = 'kfac' if name == 'kfac' else 'ekfac'
        emp = name == 'ekfac_emp'
        lab = {'ekfac': 'EK-FAC', 'kfac': 'K-FAC', 'ekfac_emp': 'EK-FAC, empirical Fisher'}[name]
        out = [(f'{lab} (λ heuristic)', lambda: dict(scores=attribute(strat, model, tr, q, lf, empirical_fisher=emp)))]
        if name == 'ekfac':  # optional damping grid (absolute, on the scale of the mean-loss curvature, like BIF's γ/nβ)
            for lam in args.ekfac_dampings:
                out.append((f'{lab} (λ={lam:g})', lambda lam=lam: dict(scores=attribute(strat, model, tr, q, lf, damping=lam), damping=lam)))
        return out
    if name == 'bif':
        def run(kw=None):
            res = bif(model, tr, q, causal_lm_sequence_loss, progress=False, **(kw or {}))
            return dict(scores=res.scores, config=_small_config(res.config), ess=float(res.ess), rhat=float(res.rhat), **_noise(res))
        out = [('BIF (defaults)', run)]
        for kw in args.bif_kwargs:
            out.append((f'BIF {json.dumps(kw, sort_keys=True)}', lambda kw=kw: run(kw)))
        return out
    if name == 'bif_token':
        def run():
            res = bif(model, tr, q, causal_lm_loss, progress=False)
            seq = res.per_sequence().scores
            summed = res.scores.sum(dim=(1, 3))
            diff = (summed - seq).abs().max().item()
            return dict(scores=seq, config=_small_config(res.config), **_noise(res.per_sequence()), sum_check_max_abs_diff=diff,
                        sum_check_rel=diff / seq.abs().max().item(), token_scores_shape=list(res.scores.shape))
        return [('BIF per token, summed (defaults)', run)]
    raise ValueError(f"Unknown method {name!r}: choose from {METHODS}.")


def _noise(res):
    "How far the scores stand above their Monte Carlo error: median |score| / median standard error (from the chains' spread)."
    if res.stderr is None: return {}
    return dict(median_abs_score=res.scores.abs().median().item(), median_stderr=res.stderr.median().item(),
                snr=(res.scores.abs().median() / res.stderr.median()).item())


def agreement(a, b):
    "Mean over queries of the Spearman correlation, over training windows, between two score matrices [n, q]."
    from bif_nbdev.lds import spearman
    return float(np.mean(spearman(np.asarray(a), np.asarray(b))))


def _small_config(c):
    return {k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)[:80]) for k, v in c.items()}


def run_setting(name, args, results):
    st = lm_setting(name)
    t = time.perf_counter()
    gt = lds_ground_truth(st, m=args.m, seeds=args.seeds, verbose=True)
    gt_secs = gt.seconds or None
    nc = retrain_noise_ceiling(gt)
    model = st.trained_model(0)
    d = sum(p.numel() for p in model.parameters())
    t0 = time.perf_counter(); st.fit(subset_idx=np.flatnonzero(gt.masks[0]), seed=0); retrain_secs = time.perf_counter() - t0
    entry = results.setdefault(name, {})
    entry.update(description=st.description, n_train=st.n_train, n_query=len(st.query), window=st.window, params=d,
                 recipe=dict(epochs=st.epochs, lr=st.lr, batch_size=st.batch_size, weight_decay=st.weight_decay,
                             warmup=st.warmup, init='pre-trained' if st.init is not None else 'random'),
                 m=args.m, seeds=args.seeds, half_subset_retrain_seconds=retrain_secs,
                 ceiling=dict(r=nc['r'], two_seed=nc['ceiling'], per_query=nc['per_query'].tolist()),
                 exact_if=f"not run: d = {d:,} parameters, a Hessian of {d * d:.2g} entries ({4 * d * d / 2**30:.0f} GiB in float32)")
    if gt_secs: entry['ground_truth_seconds'] = gt_secs
    rows = entry.setdefault('methods', {})
    scores = {}
    for meth in args.methods:
        for label, fn in method_calls(meth, st, model, args):
            print(f"[{name}] {label} ...", flush=True)
            out = in_child(lambda: {k: (v.detach().double().numpy() if torch.is_tensor(v) else v) for k, v in fn().items()})
            if not out['ok']:
                print(f"  failed: {out['error']}\n{out.get('trace', '')}", flush=True)
                rows[label] = dict(error=out['error']); _save(results); continue
            res = dict(out['out']); scores[label] = sc = res.pop('scores')
            row = dict(**lds_summary(sc, gt), seconds=out['seconds'], mem_mb=out['mem_mb'], peak_rss_mb=out['peak_rss_mb'], **res)
            rows[label] = row
            extra = f"  (sum check: max |Σ token − sequence| = {row['sum_check_max_abs_diff']:.2e})" if 'sum_check_max_abs_diff' in row else ''
            print(f"  LDS {row['lds']:.3f} ± {row['se']:.3f}, {row['seconds']:.1f} s, +{row['mem_mb']:.0f} MB{extra}", flush=True)
            _save(results)
    # how alike the methods' scores are (per query, over training windows), against two references run in this invocation
    for ref in ('gradient dot', 'EK-FAC (λ heuristic)'):
        if ref not in scores: continue
        for lab, sc in scores.items():
            if lab != ref: rows[lab].setdefault('agreement', {})[ref] = agreement(sc, scores[ref])
    _save(results)
    print_table(name, results[name])


def print_table(name, e):
    c = e['ceiling']
    print(f"\n### {name}: {e['description']}\n")
    print(f"{e['n_train']} training and {e['n_query']} query windows of {e['window']} tokens, {e['params']:,} parameters; "
          f"M = {e['m']} half-subsets × {e['seeds']} seeds; noise ceiling r = {c['r']:.3f}, two-seed 2r/(1+r) = {c['two_seed']:.3f}; "
          f"a half-subset retrain takes {e['half_subset_retrain_seconds']:.1f} s. Exact IF {e['exact_if']}.\n")
    print("| method | LDS ± SE | time (s) | memory (MB) | agreement with EK-FAC |")
    print("|---|---|---|---|---|")
    for lab, r in e['methods'].items():
        if 'error' in r: print(f"| {lab} | failed: {r['error'][:80]} | | | |"); continue
        ag = r.get('agreement', {}).get('EK-FAC (λ heuristic)')
        print(f"| {lab} | {r['lds']:.3f} ± {r['se']:.3f} | {r['seconds']:.1f} | {r['mem_mb']:.0f} | {'' if ag is None else f'{ag:.2f}'} |")


def _order(label):
    "Rows in a reading order: gradient dot, TRAK by λ, K-FAC, EK-FAC (heuristic, empirical, then by λ), BIF."
    import re
    num = lambda: float(re.search(r'λ=([0-9.e+-]+)', label).group(1)) if re.search(r'λ=([0-9.e+-]+)', label) else -1.0
    for i, p in enumerate(('gradient', 'TRAK', 'K-FAC', 'EK-FAC (λ heur', 'EK-FAC, emp', 'EK-FAC (λ=', 'EK-FAC (λ = ', 'BIF (def', 'BIF per', 'BIF')):
        if label.startswith(p): return (i, num(), label)
    return (99, 0.0, label)


def _bif_damping(e):
    c = e['methods'].get('BIF (defaults)', {}).get('config', {})
    return c['gamma'] / c['nbeta'] if 'gamma' in c and 'nbeta' in c else None


def print_combined(results, names):
    "One table, both settings side by side: LDS ± SE, time, memory per method; EK-FAC at BIF's own damping γ/nβ gets one row."
    names = [n for n in names if n in results]
    rows = {}
    for n in names:
        lam = _bif_damping(results[n])
        for lab, r in results[n]['methods'].items():
            d = r.get('damping') if isinstance(r, dict) else None
            if lab.startswith('EK-FAC (λ=') and lam and d and abs(d - lam) <= 1e-3 * lam:
                lab, r = "EK-FAC (λ = γ/nβ of BIF's defaults)", dict(r, show_damping=True)
            rows.setdefault(lab, {})[n] = r
    print('| method | ' + ' | '.join(f'{n}: LDS ± SE | time (s) | memory (MB)' for n in names) + ' |')
    print('|---|' + '---|---|---|' * len(names))
    def cell(r):
        if r is None: return ' | | '
        if 'error' in r: return 'failed | | '
        lam = f" (λ={r['damping']:.3g})" if r.get('show_damping') else ''
        return f"{r['lds']:.3f} ± {r['se']:.3f}{lam} | {r['seconds']:.1f} | {r['mem_mb']:.0f}"
    for lab in sorted(rows, key=_order): print(f'| {lab} | ' + ' | '.join(cell(rows[lab].get(n)) for n in names) + ' |')
    print('| *noise ceiling r / 2r/(1+r)* | ' + ' | '.join(
        f"{results[n]['ceiling']['r']:.3f} / {results[n]['ceiling']['two_seed']:.3f} | | " for n in names) + ' |')


def _save(results):
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tmp = OUT.with_suffix('.tmp')
    tmp.write_text(json.dumps(results, indent=1, sort_keys=False))
    os.replace(tmp, OUT)


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--settings', nargs='+', default=list(LM_SETTINGS), choices=LM_SETTINGS)
    ap.add_argument('--methods', nargs='+', default=list(METHODS), choices=METHODS)
    ap.add_argument('--m', type=int, default=100, help='subsets of the ground truth')
    ap.add_argument('--seeds', type=int, default=2, help='retraining seeds per subset (>= 2 for the noise ceiling)')
    ap.add_argument('--proj-dim', type=int, default=512, help="TRAK's projection dimension")
    ap.add_argument('--trak-rho', type=float, nargs='+', default=[0.01, 0.1, 1.0, 10.0, 100.0], help="TRAK's damping, relative to mean ||g||^2 / k")
    ap.add_argument('--ekfac-dampings', type=float, nargs='*', default=[], help="extra EK-FAC rows at these absolute dampings (e.g. BIF's γ/nβ)")
    ap.add_argument('--bif-kwargs', type=json.loads, action='append', default=[], help='a JSON dict of bif() arguments (repeatable)')
    ap.add_argument('--table-only', action='store_true', help='print the tables of the saved JSON and exit')
    ap.add_argument('--out', default=str(OUT), help='the JSON file to read and update (default: bench/results/lm_lds.json)')
    args = ap.parse_args()
    OUT = Path(args.out)
    torch.set_num_threads(1)
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    if args.table_only:
        for nm in args.settings:
            if nm in results: print_table(nm, results[nm])
        print(); print_combined(results, args.settings)
        sys.exit(0)
    for nm in args.settings: run_setting(nm, args, results)
