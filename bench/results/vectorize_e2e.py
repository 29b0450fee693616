import sys, time, torch, warnings, json
warnings.filterwarnings('ignore'); torch.set_num_threads(1)
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[1]))
from suite import lds_scored
from bif_nbdev.all import bif
from bif_nbdev.lds import suite_ground_truth
name = sys.argv[1]; kw = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
st, gt = suite_ground_truth(name); m = st.trained_model(seed=0)
for rep in range(int(sys.argv[3]) if len(sys.argv) > 3 else 1):
    for vec in (True, 'auto'):
        t = time.perf_counter(); r = bif(m, st.train, st.query, st.loss_fn, progress=False, vectorize=vec, **kw); secs = time.perf_counter() - t
        res, _ = lds_scored(r.scores, gt)
        print(f"{name} {kw} vectorize={vec}: LDS {res.mean:.4f} time {secs:.1f}s draws {r.config['draws']} thin {r.config['thin']}", flush=True)
