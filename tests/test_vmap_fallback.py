"""Models with an op that torch.func.vmap has no batching rule for (an LSTM here): the chains loop instead, said once,
rather than a warning per call from torch and memory that grew with the steps under vmap."""
import warnings
import torch
from torch import nn
from bif_nbdev.core import cross_entropy_loss
from bif_nbdev.bif import bif


class LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__(); self.rnn = nn.LSTM(4, 8, batch_first=True); self.out = nn.Linear(8, 2)
    def forward(self, x): return self.out(self.rnn(x)[0][:, -1])


def test_an_lstm_runs_its_chains_in_a_loop_with_one_warning():
    torch.manual_seed(0); torch.set_num_threads(1)
    x = torch.randn(64, 5, 4); y = (x[:, -1, 0] > 0).long()
    m = LSTMClassifier()
    opt = torch.optim.Adam(m.parameters(), 1e-2)
    for _ in range(100): opt.zero_grad(); cross_entropy_loss(m, (x, y)).mean().backward(); opt.step()
    m.zero_grad(set_to_none=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        r = bif(m, (x, y), (x[:4], y[:4]), cross_entropy_loss, chains=4, draws=20, progress=False)
    said = [str(w.message) for w in caught]
    ours = [s for s in said if 'has no batching rule' in s]
    torchs = [s for s in said if 'performance drop' in s]
    # once per posterior and kind of pass (the calibration's probe has its own), always the same sentence: Python's default
    # filter shows it once
    assert ours and len(set(ours)) == 1 and not torchs, (len(ours), len(torchs))
    assert r.config['vectorized'] is False and torch.isfinite(r.scores).all()
