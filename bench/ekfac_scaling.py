"""(3) Time-to-scores of BIF against kronfluence's EK-FAC (fit + score) on Pythia-style GPTNeoX models, sweeping the
width and the data size; per-sequence and per-token scores; peak memory of each method.

    PYTHONPATH=. python bench/ekfac_scaling.py width                  # hidden 64 ... 2048, 1 layer, 16 + 4 seqs x 32 tokens
    PYTHONPATH=. python bench/ekfac_scaling.py data --hidden 256 --q-ratio 4   # 16, 64, 256 training (4, 16, 64 query) sequences
    PYTHONPATH=. python bench/ekfac_scaling.py width --device cuda    # on a GPU (bench/gpu_check.sh)

Every (method, model) pair runs in a fresh subprocess: 'BIF MB' / 'EKFAC MB' is that process's peak RSS
(resource.getrusage(RUSAGE_SELF).ru_maxrss), 'base MB' its RSS once the model is built and briefly trained (a high-water
mark too, so a method that stays below it adds nothing visible). The model is built
from a config with a random init and briefly trained (nothing is downloaded). BIF: `bif()` with fixed hyperparameters
(no calibration: eps 1e-7, gamma 1e4, nbeta n: small enough to be stable at every width; the cost of a step does not
depend on them), CHAINS × DRAWS
kept draws after BURNIN steps, minibatch 8 sequences. per-sequence = loss summed over tokens, one [n, q] matrix;
per-token = per-token losses, the [n·S, q·S] token matrix and the [n, q] sequence matrix together.
EK-FAC: kronfluence `fit_all_factors` (strategy 'ekfac', empirical Fisher) + `compute_pairwise_scores`;
per-token = `compute_per_token_scores=True` (scores of every training token for each query sequence).
ratio = EK-FAC seconds / BIF seconds (> 1: BIF is faster).
"""
import argparse, json, logging, os, resource, subprocess, sys, tempfile, time, warnings
import torch
from torch import nn
sys.path.insert(0, os.path.dirname(__file__))
from common import gptneox_problem, token_loss, cuda_sync

CHAINS, DRAWS, BURNIN, BATCH = 2, 25, 10, 8
EPS, GAMMA = 1e-7, 1e4


def _rss_mb(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seq_loss(model, batch): return token_loss(model, batch).sum(1)


def run_bif(model, tr, qu, per_token, device):
    from bif_nbdev.bif import bif
    r = bif(model, (tr,), (qu,), token_loss if per_token else seq_loss, chains=CHAINS, draws=DRAWS, burnin=BURNIN,
            eps=EPS, gamma=GAMMA, nbeta=float(len(tr)), batch_size=BATCH, progress=False, device=device)
    return r.scores


def run_ekfac(model, tr, qu, per_token, device):
    from kronfluence.analyzer import Analyzer, prepare_model
    from kronfluence.task import Task
    from kronfluence.arguments import FactorArguments, ScoreArguments

    class T(Task):
        def compute_train_loss(self, batch, model, sample=False): return token_loss(model, batch).sum()
        def compute_measurement(self, batch, model): return token_loss(model, batch).sum()
    m = prepare_model(model, T())
    dtr, dq = torch.utils.data.TensorDataset(tr), torch.utils.data.TensorDataset(qu)
    logging.getLogger('kronfluence').setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
        warnings.simplefilter('ignore')
        an = Analyzer('scaling', m, T(), cpu=device == 'cpu', disable_tqdm=True, output_dir=d, log_level=logging.WARNING)
        t = time.perf_counter()
        an.fit_all_factors('f', dataset=dtr, per_device_batch_size=BATCH,
                           factor_args=FactorArguments(strategy='ekfac', use_empirical_fisher=True))
        t_fit = time.perf_counter() - t
        an.compute_pairwise_scores('s', factors_name='f', query_dataset=dq, train_dataset=dtr, per_device_query_batch_size=BATCH,
                                   per_device_train_batch_size=BATCH, score_args=ScoreArguments(compute_per_token_scores=per_token))
        s = an.load_pairwise_scores('s')['all_modules']
    return s, t_fit


def worker(a):
    torch.set_num_threads(a.threads)
    model, (tr,), (qu,), _ = gptneox_problem(hidden=a.hidden, layers=a.layers, heads=4, vocab=a.vocab, n=a.n, q=a.q,
                                             seq=a.seq, device=a.device, train_steps=10)
    sync = cuda_sync(a.device)
    if a.device == 'cuda': torch.cuda.reset_peak_memory_stats()
    rss0 = _rss_mb()
    t = time.perf_counter()
    if a.method == 'bif': s = run_bif(model, tr, qu, a.per_token, a.device); t_fit = float('nan')
    else: s, t_fit = run_ekfac(model, tr, qu, a.per_token, a.device)
    if sync: sync()
    sec = time.perf_counter() - t
    out = dict(seconds=sec, fit=t_fit, peak_mb=_rss_mb() - rss0, rss0=rss0, shape=list(s.shape),
               params=sum(p.numel() for p in model.parameters()),
               nonembed=sum(p.numel() for n_, p in model.named_parameters() if 'embed' not in n_),
               gpu_peak_mb=torch.cuda.max_memory_allocated() / 2 ** 20 if a.device == 'cuda' else 0.)
    json.dump(out, open(a.out, 'w'))


def _q(n, a): return max(a.q, n // a.q_ratio) if a.q_ratio else a.q


def run(method, per_token, hidden, n, a):
    f = tempfile.mktemp(suffix='.json')
    cmd = [sys.executable, __file__, 'worker', '--method', method, '--hidden', str(hidden), '--n', str(n), '--q', str(_q(n, a)),
           '--seq', str(a.seq), '--layers', str(a.layers), '--vocab', str(a.vocab), '--device', a.device,
           '--threads', str(a.threads), '--out', f] + (['--per-token'] if per_token else [])
    p = subprocess.run(cmd, env=dict(os.environ, OMP_NUM_THREADS=str(a.threads)), capture_output=True, text=True)
    if p.returncode: raise RuntimeError(f"{method} h{hidden} n{n} failed:\n{p.stderr[-3000:]}")
    r = json.load(open(f)); os.remove(f); return r


def sweep(a, points):
    load = f", load avg {os.getloadavg()[0]:.1f}" if hasattr(os, 'getloadavg') else ''
    dev = torch.cuda.get_device_name() if a.device == 'cuda' else f"CPU, {a.threads} thread(s)"
    print(f"(3) time-to-scores: BIF ({CHAINS} chains x {DRAWS} draws + {BURNIN} burn-in) vs kronfluence EK-FAC (fit + score)  [torch {torch.__version__}, {dev}{load}]")
    print(f"GPTNeoX, {a.layers} layer(s), 4 heads, vocab {a.vocab}, sequences of {a.seq} tokens; minibatch {BATCH}; "
          "one run each (subprocess); BIF/EKFAC MB = peak RSS of the process, base MB = RSS once the model is built and trained")
    print(f"{'hidden':>6} {'params':>8} {'n':>4} {'q':>3} {'scores':>8} {'BIF s':>8} {'EK-FAC s':>9} {'(fit)':>7} {'ratio':>6} {'BIF MB':>7} {'EKFAC MB':>8} {'base MB':>7}")
    rows = []
    for h, n in points:
        for per_token in a.kinds:
            b, e = run('bif', per_token, h, n, a), run('ekfac', per_token, h, n, a)
            kind = 'token' if per_token else 'sequence'
            rows.append(dict(hidden=h, n=n, kind=kind, params=b['params'], bif=b['seconds'], ekfac=e['seconds'], fit=e['fit'],
                             bif_mb=b['peak_mb'], ekfac_mb=e['peak_mb'], bif_gpu_mb=b['gpu_peak_mb'], ekfac_gpu_mb=e['gpu_peak_mb']))
            print(f"{h:6d} {b['params']/1e6:7.2f}M {n:4d} {_q(n, a):3d} {kind:>8} {b['seconds']:8.1f} {e['seconds']:9.1f} {e['fit']:7.1f} "
                  f"{e['seconds']/b['seconds']:6.2f} {b['peak_mb'] + b['rss0']:7.0f} {e['peak_mb'] + e['rss0']:8.0f} {b['rss0']:7.0f}", flush=True)
    if a.save: json.dump(rows, open(a.save, 'w'), indent=1)
    return rows


def _loglog_slope(xs, ys):
    import math
    xs, ys = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def fit_report(rows, key):
    "Least-squares exponents k of time ~ key^k for each method (all points, and the last three), and where the ratio crosses 1."
    for kind in sorted({r['kind'] for r in rows}):
        rs = [r for r in rows if r['kind'] == kind]
        if len(rs) < 3: continue
        k = {m: (_loglog_slope([r[key] for r in rs], [r[m] for r in rs]), _loglog_slope([r[key] for r in rs[-3:]], [r[m] for r in rs[-3:]]))
             for m in ('bif', 'ekfac')}
        print(f"{kind}: time ~ {key}^k: BIF k = {k['bif'][0]:.2f} (last three points {k['bif'][1]:.2f}), "
              f"EK-FAC k = {k['ekfac'][0]:.2f} (last three {k['ekfac'][1]:.2f})")
        cross = [(r0[key], r1[key]) for r0, r1 in zip(rs, rs[1:]) if (r0['ekfac'] / r0['bif'] - 1) * (r1['ekfac'] / r1['bif'] - 1) <= 0]
        print(f"  ratio EK-FAC/BIF crosses 1 between {key} = {cross}" if cross else
              f"  ratio EK-FAC/BIF does not cross 1 in this range ({rs[0]['ekfac']/rs[0]['bif']:.2f} -> {rs[-1]['ekfac']/rs[-1]['bif']:.2f})")


if __name__ == '__main__':
    p = argparse.ArgumentParser()
    p.add_argument('what', choices=['width', 'data', 'worker'])
    p.add_argument('--method'); p.add_argument('--out'); p.add_argument('--per-token', action='store_true')
    p.add_argument('--hidden', default=None, help='width(s): comma list for width, one value for data')
    p.add_argument('--n', default=None, help='training sequences: one value for width, comma list for data')
    p.add_argument('--q-ratio', type=int, default=0, help='data sweep: q = max(--q, n // q_ratio) queries (0: q fixed)')
    p.add_argument('--q', type=int, default=4); p.add_argument('--seq', type=int, default=32)
    p.add_argument('--layers', type=int, default=1); p.add_argument('--vocab', type=int, default=512)
    p.add_argument('--kinds', default='sequence,token'); p.add_argument('--save', default=None)
    p.add_argument('--device', default='cpu'); p.add_argument('--threads', type=int, default=1)
    a = p.parse_args()
    if a.what == 'worker':
        a.hidden, a.n = int(a.hidden), int(a.n); worker(a); sys.exit()
    a.kinds = [k == 'token' for k in a.kinds.split(',')]
    if a.what == 'width':
        hs = [int(h) for h in (a.hidden or '64,128,256,512,1024,2048').split(',')]
        rows = sweep(a, [(h, int(a.n or 16)) for h in hs]); fit_report(rows, 'params')
    else:
        ns = [int(n) for n in (a.n or '16,64,256').split(',')]
        rows = sweep(a, [(int(a.hidden or 256), n) for n in ns]); fit_report(rows, 'n')
