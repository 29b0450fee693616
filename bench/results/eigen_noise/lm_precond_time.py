"""What one sampler step spends in the Kronecker preconditioner on the model matrix's language models, before and after it
works in its eigenbasis: the preconditioned gradient (`apply`) and the O step's noise, for 2 chains (no deflation: the
Lanczos memory cap leaves these models none). Each engine runs in its own subprocess, the two alternating. The
preconditioner is fitted once (its construction did not change) and saved, and every subprocess loads it.

    PYTHONPATH=. python bench/results/eigen_noise/lm_precond_time.py --old /path/to/a/checkout/of/fdeeea1 [--rows pythia-70m gpt2] [--repeats 3]"""
import argparse, json, os, statistics, subprocess, sys, tempfile
from pathlib import Path
ROOT = Path(__file__).resolve().parents[3]
CHILD = r'''
import sys, time, json, torch, warnings
warnings.filterwarnings('ignore'); torch.set_num_threads(1)
sys.path.insert(0, sys.argv[2])
import model_matrix as MM
from bif_nbdev.sgld import LocalPosterior, init_chains, chain_noise
from bif_nbdev.precond import kronecker_factors, KroneckerPreconditioner
from bif_nbdev.hf import causal_lm_loss
model = MM.build(sys.argv[1]); cfg = model.config
pad_id = cfg.pad_token_id if getattr(cfg, 'pad_token_id', None) is not None else (cfg.eos_token_id or 0)
train, query, lens = MM.make_data(cfg.vocab_size, pad_id, MM.ROWS[sys.argv[1]][3])
post = LocalPosterior(model, train, causal_lm_loss, 16., 100., 8)
if sys.argv[4] == 'fit':
    torch.save(KroneckerPreconditioner(post, kronecker_factors(post, 16, 0, max_full=4096)), sys.argv[3]); sys.exit()
pre = torch.load(sys.argv[3], weights_only=False)
state = init_chains(post, 2, 0)
g = {k: torch.randn_like(v) for k, v in state.params.items()}
new = hasattr(pre, 'noise_from_eigen')
if new:
    from bif_nbdev.sgld import chain_normal
    noise = lambda: pre.noise_from_eigen(chain_normal(state, state.params), 1.0)
else: noise = lambda: pre.sqrt(chain_noise(state, state.params), 1.0)
def t(f, n=3):
    f(); out = []
    for _ in range(n):
        t0 = time.perf_counter(); f(); out.append(time.perf_counter() - t0)
    return sorted(out)[n // 2]
print(json.dumps(dict(apply=t(lambda: pre.apply(g)), noise=t(noise), dim=post.dim, blocks=len(pre.blocks))))
'''

def run(engine, row, saved, what='time'):
    env = dict(os.environ, PYTHONPATH=str(engine), OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    out = subprocess.run([sys.executable, '-c', CHILD, row, str(ROOT / 'bench'), saved, what], env=env, capture_output=True, text=True, cwd=engine)
    if out.returncode: raise RuntimeError(out.stderr[-2000:])
    return None if what == 'fit' else json.loads(out.stdout.strip().splitlines()[-1])

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--old', required=True); ap.add_argument('--rows', nargs='+', default=['pythia-70m', 'gpt2']); ap.add_argument('--repeats', type=int, default=3)
    a = ap.parse_args()
    print('| row | parameters | Kronecker blocks | apply, before / after (s) | noise, before / after (s) | both, after / before |')
    print('|---|---|---|---|---|---|')
    for row in a.rows:
        res = {'before': [], 'after': []}
        with tempfile.TemporaryDirectory() as tmp:
            saved = str(Path(tmp) / 'precond.pt'); run(ROOT, row, saved, 'fit')
            for _ in range(a.repeats):
                for lab, eng in (('before', a.old), ('after', ROOT)): res[lab].append(run(eng, row, saved))
        m = {lab: {k: statistics.median(r[k] for r in rs) for k in ('apply', 'noise')} for lab, rs in res.items()}
        b, n = m['before'], m['after']; r = res['after'][0]
        print(f"| {row} | {r['dim'] / 1e6:.1f} M | {r['blocks']} | {b['apply']:.2f} / {n['apply']:.2f} | {b['noise']:.2f} / {n['noise']:.2f} | "
              f"{(n['apply'] + n['noise']) / (b['apply'] + b['noise']):.2f} |", flush=True)

if __name__ == '__main__': main()
