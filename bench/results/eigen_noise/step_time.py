"""Time of the sampler's steps before and after the preconditioner works in its eigenbasis (one rotation in and one out per
gradient, one projection; the noise drawn there), on chapter 15's per-token model and the suite's digits MLP.

    PYTHONPATH=. python bench/results/eigen_noise/step_time.py --old /path/to/a/checkout/of/fdeeea1 [--repeats 3]

Each run is a subprocess with one engine on its path (calibrate, then `sample` with fixed draws and thinning); the two
engines alternate, so both meet the same load. Prints the median sampling time of each and their ratio."""
import argparse, json, os, statistics, subprocess, sys
from pathlib import Path
ROOT = Path(__file__).resolve().parents[3]
CHILD = r'''
import sys, time, json, torch, warnings
warnings.filterwarnings('ignore'); torch.set_num_threads(1)
sys.path.insert(0, sys.argv[2])
from bif_nbdev.all import calibrate, sample, causal_lm_loss
if sys.argv[1] == 'per-token':
    from per_token_agreement import setup
    model, tr, q = setup(); lf = causal_lm_loss; draws = 40
else:
    from suite import suite_ground_truth
    st, _ = suite_ground_truth(sys.argv[1], verbose=False); model = st.trained_model(seed=0); tr, q, lf = st.train, st.query, st.loss_fn; draws = 100
cal = calibrate(model, tr, lf)
t = time.perf_counter(); r = sample(model, tr, q, lf, cal, draws=draws, thin=2, progress=False); secs = time.perf_counter() - t
print(json.dumps(dict(secs=secs, steps=r.config['burnin'] + draws * 2, rank=cal.precond.rank, chains=r.config['chains'])))
'''

def run(engine, problem):
    env = dict(os.environ, PYTHONPATH=str(engine), OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    out = subprocess.run([sys.executable, '-c', CHILD, problem, str(ROOT / 'bench')], env=env, capture_output=True, text=True, cwd=engine)
    if out.returncode: raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--old', required=True, help='a checkout of the engine before the change (its repository root)')
    ap.add_argument('--problems', nargs='+', default=['per-token', 'digits_mlp'])
    ap.add_argument('--repeats', type=int, default=3)
    a = ap.parse_args()
    print('| problem | chains | deflation rank | steps | sampling s, before (median) | after (median) | after / before |')
    print('|---|---|---|---|---|---|---|')
    for p in a.problems:
        t = {'before': [], 'after': []}
        for _ in range(a.repeats):
            for lab, eng in (('before', a.old), ('after', ROOT)):
                r = run(eng, p); t[lab].append(r['secs'])
        b, n = statistics.median(t['before']), statistics.median(t['after'])
        print(f"| {p} | {r['chains']} | {r['rank']} | {r['steps']} | {b:.2f} | {n:.2f} | {n / b:.2f} |", flush=True)

if __name__ == '__main__': main()
