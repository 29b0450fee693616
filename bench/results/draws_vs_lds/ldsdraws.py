import sys, time, torch, warnings
warnings.filterwarnings('ignore'); torch.set_num_threads(1)
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[2]))
from suite import lds_scored
from bif_nbdev.lds import suite_ground_truth
from bif_nbdev.all import *
from bif_nbdev.bif import sampling_cost, SamplingArguments
from bif_nbdev.calibrate import default_batch_size
name = sys.argv[1]; drawss = [int(x) for x in sys.argv[2].split(',')]
st, gt = suite_ground_truth(name); m = st.trained_model(0)
n, q = len(st.train[0]), len(st.query[0])
t = time.perf_counter(); cal = calibrate(m, st.train, st.loss_fn, budget=sampling_cost(SamplingArguments(), n, q, default_batch_size(n))); tc = time.perf_counter() - t
for d in drawss:
    t = time.perf_counter(); r = sample(m, st.train, st.query, st.loss_fn, cal, progress=False, draws=d, **eval(sys.argv[3] if len(sys.argv) > 3 else "{}")); ts = time.perf_counter() - t
    res, _ = lds_scored(r.scores, gt)
    rel = r.reliability.mean().item() if r.reliability is not None else float('nan')
    print(f"{name} draws {d} thin {r.config['thin']}: LDS {res.mean:.3f} reliability {rel:.2f} time {tc+ts:.1f}s (calibration {tc:.1f})", flush=True)
