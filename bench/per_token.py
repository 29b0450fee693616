"""Per-token attribution on one small Pythia-style GPT-NeoX: bif_nbdev's BIF vs devinterp's BIF vs kronfluence's EK-FAC.

    PYTHONPATH=. python bench/per_token.py [--n 32 --q 4 --seq 16 --draws 200 --chains 4]

Each method runs in its own subprocess (peak memory = that process's max RSS, which includes ~0.5 GB of imported
torch/transformers; the 'imports only' row is that floor). Agreement = Pearson and Spearman correlation, over all
(training token, query token) pairs with a loss, of each method's matrix with bif_nbdev's, in one sign convention
(+ = the training token's loss moves with the query token's / helps it). Alignment: the loss is `bench.common.token_loss`
([B, S-1], position p = loss of token p+1, no BOS), which is devinterp's layout too. kronfluence's per-token scores
belong to the *input* position t of the training text (the activations at t, whose gradients carry the loss of token
t+1 and, through attention, of later tokens); we compare its position t with loss position t.
kronfluence needs one query gradient per query token (q*S' measurements); BIF and devinterp get every token from one run.
"""
import argparse, json, os, subprocess, sys, tempfile, time, resource
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def problem(a):
    from common import gptneox_problem
    return gptneox_problem(hidden=a.hidden, layers=a.layers, heads=4, vocab=a.vocab, n=a.n, q=a.q, seq=a.seq, seed=0,
                           train_steps=a.train_steps)


def run_ours(a, model, train, query, loss_fn, seed=0):
    from bif_nbdev.bif import bif
    T = a.seq - 1
    r = bif(model, train, query, loss_fn, chains=a.chains, draws=a.draws, burnin=a.burnin, eps=a.lr, gamma=a.gamma,
            nbeta=a.n_beta / T, batch_size=a.n, progress=False, seed=seed)
    return r.posterior_correlation                                     # [n, T, q, T], +corr


def run_devinterp(a, model, train, query, loss_fn):
    import warnings, io, contextlib, datasets
    from devinterp.slt.bif import bif as dbif
    n, q = len(train[0]), len(query[0])
    if n % q: raise ValueError('devinterp cross-check: --n must be a multiple of --q')
    mk = lambda t: datasets.Dataset.from_dict({'input_ids': t.tolist()}).with_format('torch')
    # full-batch sampling (batch_size = n) as ours; an observable holds batch_size * 1 texts, so the query set is tiled n/q times
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter('ignore')
        out = dbif(model, mk(train[0]), {'train': (mk(train[0]), 1), 'query': (mk(query[0].repeat(n // q, 1)), 1)},
                   lr=a.lr, n_beta=a.n_beta, localization=a.gamma, num_chains=a.chains, num_draws=a.draws,
                   num_burnin_steps=a.burnin, batch_size=n, device='cpu', output_path=os.path.join(tempfile.mkdtemp(), 's.zarr'))
    inf = torch.tensor(out['influences'].values)                         # [2n, 2n, T, T], observables' shuffled orders
    sh = torch.tensor(out['input_ids'].values)
    find = lambda row: next(k for k in range(len(sh)) if torch.equal(sh[k], row))
    ti, qi = torch.tensor([find(r) for r in train[0]]), torch.tensor([find(r) for r in query[0]])
    return inf[ti[:, None], qi[None, :]].permute(0, 2, 1, 3).contiguous()   # [n, T, q, T]


def run_kronfluence(a, model, train, query, loss_fn):
    import copy, logging, warnings
    from torch import nn
    from torch.utils.data import TensorDataset
    from kronfluence.analyzer import Analyzer, prepare_model
    from kronfluence.task import Task
    from kronfluence.arguments import FactorArguments, ScoreArguments
    q, T = len(query[0]), a.seq - 1
    class Tk(Task):
        def compute_train_loss(self, batch, model, sample=False):
            ids = batch[0]
            logits = model[0](input_ids=ids[:, :-1]).logits
            if sample:
                with torch.no_grad(): y = torch.distributions.Categorical(logits=logits.detach()).sample()
            else: y = ids[:, 1:]
            return nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction='sum')
        def compute_measurement(self, batch, model):                   # the loss of ONE query token per item
            ids, pos = batch
            l = loss_fn(model[0], (ids,))
            return l.gather(1, pos[:, None]).sum()
    m = prepare_model(nn.Sequential(copy.deepcopy(model)), Tk())
    qids = query[0].repeat_interleave(T, 0); pos = torch.arange(T).repeat(q)
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
        warnings.simplefilter('ignore')
        an = Analyzer('tok', m, Tk(), cpu=True, disable_tqdm=True, output_dir=d, log_level=logging.WARNING)
        an.fit_all_factors('f', dataset=TensorDataset(train[0]), per_device_batch_size=a.n,
                           factor_args=FactorArguments(strategy='ekfac'))
        an.compute_pairwise_scores('s', factors_name='f', query_dataset=TensorDataset(qids, pos),
                                   train_dataset=TensorDataset(train[0]), per_device_query_batch_size=64,
                                   per_device_train_batch_size=a.n, score_args=ScoreArguments(compute_per_token_scores=True))
        s = an.load_pairwise_scores('s')['all_modules']                 # [q*T, n, S_in] (positive = helpful)
    s = s[..., :T].reshape(q, T, len(train[0]), T)                    # input positions 0..T-1
    return s.permute(2, 3, 0, 1).float().contiguous()                 # [n, T, q, T], + = helpful


METHODS = {'ours': run_ours, 'ours-seed1': lambda *x: run_ours(*x, seed=1), 'devinterp': run_devinterp, 'kronfluence': run_kronfluence}


def child(a):
    torch.set_num_threads(1)
    if a.method == 'imports':
        import transformers, bif_nbdev.bif  # noqa: F401
        torch.save({'seconds': 0.0}, a.out); return
    model, train, query, loss_fn = problem(a)
    t0 = time.perf_counter()
    M = METHODS[a.method](a, model, train, query, loss_fn)
    torch.save({'seconds': time.perf_counter() - t0, 'M': M}, a.out)


def spearman(x, y):
    rank = lambda v: torch.argsort(torch.argsort(v)).double()
    return torch.corrcoef(torch.stack([rank(x), rank(y)]))[0, 1].item()


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--n', type=int, default=32); p.add_argument('--q', type=int, default=4)
    p.add_argument('--seq', type=int, default=16); p.add_argument('--hidden', type=int, default=32)
    p.add_argument('--layers', type=int, default=2); p.add_argument('--vocab', type=int, default=64)
    p.add_argument('--train-steps', type=int, default=200)
    p.add_argument('--chains', type=int, default=4); p.add_argument('--draws', type=int, default=200)
    p.add_argument('--burnin', type=int, default=200)
    p.add_argument('--lr', type=float, default=1e-3, help='SGLD step (eps = devinterp lr)')
    p.add_argument('--n-beta', type=float, default=10., help="devinterp's n_beta (ours: n_beta / T)")
    p.add_argument('--gamma', type=float, default=100., help='localization')
    p.add_argument('--methods', default='imports,ours,ours-seed1,devinterp,kronfluence')
    p.add_argument('--method', help=argparse.SUPPRESS); p.add_argument('--out', help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.method: return child(a)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    rows, mats = [], {}
    for meth in a.methods.split(','):
        out = os.path.join(tempfile.mkdtemp(), 'r.pt')
        args = [sys.executable, __file__, '--method', meth, '--out', out] + sys.argv[1:]
        t0 = time.perf_counter()
        pr = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, ru = os.wait4(pr.pid, 0)
        wall = time.perf_counter() - t0
        err = pr.stderr.read().decode()[-600:]
        if status != 0 or not os.path.exists(out):
            rows.append((meth, None, wall, ru.ru_maxrss / 1024, 'failed: ' + err.strip().splitlines()[-1] if err.strip() else 'failed'))
            continue
        r = torch.load(out)
        if 'M' in r: mats[meth] = r['M']
        rows.append((meth, r['seconds'], wall, ru.ru_maxrss / 1024, ''))
    ref = mats.get('ours')
    T = a.seq - 1
    print(f"per-token attribution: GPT-NeoX hidden {a.hidden}, {a.layers} layers, vocab {a.vocab}; {a.n} train x {a.q} query "
          f"texts of {a.seq} tokens ({a.n * T} x {a.q * T} token pairs); BIF: {a.chains} chains x {a.draws} draws, "
          f"burn-in {a.burnin}, lr {a.lr:g}, n_beta {a.n_beta:g} (devinterp) = {a.n_beta / T:.3g} (ours), gamma {a.gamma:g}  "
          f"[torch {torch.__version__}, 1 thread]")
    print(f"{'method':14} {'method s':>9} {'process s':>10} {'peak RSS MB':>12} {'Pearson vs ours':>16} {'Spearman vs ours':>17}")
    for meth, sec, wall, rss, note in rows:
        pe = sp = ''
        if ref is not None and meth in mats:
            x, y = ref.reshape(-1).double(), mats[meth].reshape(-1).double()
            pe = f"{torch.corrcoef(torch.stack([x, y]))[0, 1].item():.3f}"; sp = f"{spearman(x, y):.3f}"
        print(f"{meth:14} {'' if sec is None else f'{sec:9.1f}':>9} {wall:10.1f} {rss:12.0f} {pe:>16} {sp:>17} {note}")


if __name__ == '__main__':
    main()
