"""iris_mlp (val) at the 'lm' calibration, sampled by each scheme (design notes, "Underdamped Langevin: what the first
trial showed").  PYTHONPATH=. BIF_NBDEV_CACHE=... python bench/results/scheme_baoab/prototype/iris_at_lm_calibration.py"""
import torch, warnings, dataclasses, time, sys
sys.path.insert(0, 'bench')
from bif_nbdev.all import *
from bif_nbdev.lds import suite_ground_truth
from suite import lds_scored
name = sys.argv[1] if len(sys.argv) > 1 else 'iris_mlp'
st, gt = suite_ground_truth(name)
model = st.trained_model(seed=0)
cal = calibrate(model, st.train, st.loss_fn, scheme='lm')
print(cal)
for sch in ['lm', 'baoab']:
    c = dataclasses.replace(cal, scheme=sch)
    t = time.time(); r = sample(model, st.train, st.query, st.loss_fn, c, progress=False)
    print(sch, 'lds', round(lds_scored(r.scores, gt)[0].mean, 3), 'draws', r.config['draws'], 'burnin', r.config['burnin'], 'ess', round(r.ess), 'rhat', round(r.rhat, 3), f'{time.time()-t:.1f}s', flush=True)
