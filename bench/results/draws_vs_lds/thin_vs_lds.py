# Thinning against LDS at fixed draws or steps, on a suite setting with bif()'s own calibration (seed 0, 8 chains).
# BIF_NBDEV_CACHE=/work/cache PYTHONPATH=. python bench/results/draws_vs_lds/thin_vs_lds.py digits_mlp 500x4,1000x2,2000x1
import sys, time, json, torch
from bif_nbdev.lds import suite_ground_truth, lds
from bif_nbdev.bif import calibrate, sample
torch.set_num_threads(1)
name = sys.argv[1]; runs = [tuple(int(v) for v in r.split('x')) for r in sys.argv[2].split(',')]   # drawsxthin
st, gt = suite_ground_truth(name)
model = st.trained_model(seed=0)
torch.manual_seed(0)
t = time.time(); cal = calibrate(model, st.train, st.loss_fn); tc = time.time() - t
print(name, cal, 'default thin', cal.default_thin(), 'burnin', cal.default_burnin(), 'calib s', round(tc, 1), flush=True)
for d, th in runs:
    t = time.time()
    res = sample(model, st.train, st.query, st.loss_fn, cal, draws=d, thin=th, progress=False)
    rel = res.reliability.mean().item()
    print(json.dumps(dict(name=name, thin=th, draws=d, lds=round(lds(res.scores, gt).mean, 3), secs=round(time.time() - t, 1), ess=round(res.ess), rel=round(rel, 3))), flush=True)
