"""One SGLD step of `bif()`'s defaults with `vectorize=True` against `vectorize=False` on every setting of the development
suite (bench/README.md, "Convolutions: the loop is faster"). Each run: 15 kept draws, each setting's calibrated
minibatch, ms per step from `callback` timestamps over the second half of the run (calibration excluded)."""
import argparse, sys, time, warnings
import torch
from bif_nbdev.all import bif
from bif_nbdev.lds import suite_ground_truth, suite_settings

def ms_per_step(st, model, vectorize, draws):
    stamps = []
    res = bif(model, st.train, st.query, st.loss_fn, progress=False, draws=draws, vectorize=vectorize,
              callback=lambda *a, **k: stamps.append(time.perf_counter()))
    h = len(stamps) // 2
    return 1000 * (stamps[-1] - stamps[h]) / (len(stamps) - 1 - h), res.config['batch_size']

def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--settings', nargs='+', default=suite_settings('all'))
    ap.add_argument('--draws', type=int, default=15)
    args = ap.parse_args()
    torch.set_num_threads(1); warnings.filterwarnings('ignore')
    print('| setting | minibatch | vmap ms/step | loop ms/step | vmap / loop |\n|---|---|---|---|---|')
    for name in args.settings:
        st, _ = suite_ground_truth(name); model = st.trained_model(seed=0)
        (v, b), (l, _) = ms_per_step(st, model, True, args.draws), ms_per_step(st, model, False, args.draws)
        print(f'| {name} | {b} | {v:.1f} | {l:.1f} | {v / l:.2f} |', flush=True)

if __name__ == '__main__': main()
