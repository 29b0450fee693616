"""Which parameters get their sampler noise in a non-contiguous memory layout, drawn in the eigenbasis (`noise_from_eigen`)
and through `sqrt`, on Pythia-14M's model-matrix row: `PYTHONPATH=. python bench/results/eigen_noise/noise_layout.py`."""
import sys, torch, warnings
warnings.filterwarnings('ignore'); torch.set_num_threads(1)
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[2]))
import model_matrix as MM
from bif_nbdev.sgld import LocalPosterior, init_chains, chain_normal, chain_noise
from bif_nbdev.precond import kronecker_factors, KroneckerPreconditioner
from bif_nbdev.hf import causal_lm_loss
model = MM.build('pythia-14m'); cfg = model.config
train, query, lens = MM.make_data(cfg.vocab_size, cfg.eos_token_id or 0, MM.ROWS['pythia-14m'][3])
post = LocalPosterior(model, train, causal_lm_loss, 16., 100., 8)
pre = KroneckerPreconditioner(post, kronecker_factors(post, 16, 0, max_full=4096))
state = init_chains(post, 2, 0)
n = pre.noise_from_eigen(chain_normal(state, state.params), 1.0); s = pre.sqrt(chain_noise(state, state.params), 1.0)
a, b = ({k for k, v in x.items() if not v.is_contiguous()} for x in (n, s))
print('non-contiguous only when drawn in the eigenbasis:', sorted(a - b)); print('only through sqrt:', sorted(b - a))
