"""One BAOAB update (`baoab_update`: the preconditioned gradient, the O step's noise drawn in the eigenbasis, the in-place
moves of velocity and weights) on the model matrix's language models, 2 chains, no deflation, before and after the
token embedding's noise comes back in the weight's own memory layout. The K-FAC factors are computed once and saved;
each engine builds its preconditioner from them in its own subprocess, the two alternating; median of 5 updates each.

    PYTHONPATH=. python bench/results/noise_layout/step_time.py --old /path/to/a/checkout/of/829a8ec [--rows pythia-14m pythia-70m] [--repeats 3]"""
import argparse, json, os, statistics, subprocess, sys, tempfile
from pathlib import Path
ROOT = Path(__file__).resolve().parents[3]
CHILD = r'''
import sys, time, json, torch, warnings
warnings.filterwarnings('ignore'); torch.set_num_threads(1)
sys.path.insert(0, sys.argv[2])
import model_matrix as MM
from bif_nbdev.sgld import LocalPosterior, init_chains, baoab_update, StepGradients
from bif_nbdev.precond import kronecker_factors, KroneckerPreconditioner
from bif_nbdev.hf import causal_lm_loss
model = MM.build(sys.argv[1]); cfg = model.config
pad_id = cfg.pad_token_id if getattr(cfg, 'pad_token_id', None) is not None else (cfg.eos_token_id or 0)
train, query, lens = MM.make_data(cfg.vocab_size, pad_id, MM.ROWS[sys.argv[1]][3])
post = LocalPosterior(model, train, causal_lm_loss, 16., 100., 8)
if sys.argv[4] == 'fit': torch.save(kronecker_factors(post, 16, 0, max_full=4096), sys.argv[3]); sys.exit()
pre = KroneckerPreconditioner(post, torch.load(sys.argv[3]))
state = init_chains(post, 2, 0)
gen = torch.Generator().manual_seed(0)
g = StepGradients({k: 1e-3 * torch.randn(v.shape, generator=gen) for k, v in state.params.items()}, torch.zeros(2), torch.zeros(2, 1, dtype=torch.long))
def t(f, n=5):
    f(); out = []
    for _ in range(n):
        t0 = time.perf_counter(); f(); out.append(time.perf_counter() - t0)
    return sorted(out)[n // 2]
emb = model.get_input_embeddings().weight
name = next(k for k, v in post.center.items() if v.shape == emb.shape)
baoab_update(state, g, 1e-4, pre, 0.1)
print(json.dumps(dict(step=t(lambda: baoab_update(state, g, 1e-4, pre, 0.1)), velocity_contiguous=state.velocity[name].is_contiguous(), dim=post.dim)))
'''

def run(engine, row, saved, what='time'):
    env = dict(os.environ, PYTHONPATH=str(engine), OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    out = subprocess.run([sys.executable, '-c', CHILD, row, str(ROOT / 'bench'), saved, what], env=env, capture_output=True, text=True, cwd=engine)
    if out.returncode: raise RuntimeError(out.stderr[-2000:])
    return None if what == 'fit' else json.loads(out.stdout.strip().splitlines()[-1])

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--old', required=True); ap.add_argument('--rows', nargs='+', default=['pythia-14m', 'pythia-70m']); ap.add_argument('--repeats', type=int, default=3)
    a = ap.parse_args()
    print('| row | parameters | one BAOAB update, before / after (s) | after / before | embedding velocity contiguous, before / after |')
    print('|---|---|---|---|---|')
    for row in a.rows:
        res = {'before': [], 'after': []}
        with tempfile.TemporaryDirectory() as tmp:
            saved = str(Path(tmp) / 'factors.pt'); run(ROOT, row, saved, 'fit')
            for _ in range(a.repeats):
                for lab, eng in (('before', a.old), ('after', ROOT)): res[lab].append(run(eng, row, saved))
        b, n = (statistics.median(r['step'] for r in res[lab]) for lab in ('before', 'after'))
        print(f"| {row} | {res['after'][0]['dim'] / 1e6:.1f} M | {b:.3f} / {n:.3f} | {n / b:.2f} | {res['before'][0]['velocity_contiguous']} / {res['after'][0]['velocity_contiguous']} |", flush=True)

if __name__ == '__main__': main()
