# Cost of a step and of a kept draw on chapter 15's per-token model with bif()'s calibration (8 chains, vectorized).
# PYTHONPATH=. python bench/results/thinning/pt_costs.py
import sys, time, torch, warnings
warnings.filterwarnings('ignore'); torch.set_num_threads(1)
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[2]))
from per_token_agreement import setup
from bif_nbdev.all import calibrate, sample, causal_lm_loss
model, tr, q = setup()
t = time.time(); cal = calibrate(model, tr, causal_lm_loss); print(cal, 'calib', round(time.time() - t, 1), 'thin', cal.default_thin(), 'n', len(tr.dataset), flush=True)
for th, d in ((8, 40), (1, 160), (1, 40)):
    t = time.time(); r = sample(model, tr, q, causal_lm_loss, cal, draws=d, thin=th, progress=False)
    print('thin', th, 'draws', d, 'secs', round(time.time() - t, 1), r.config['batch_size'], r.config['vectorized'], r.config.get('reuse_step_losses'), flush=True)
