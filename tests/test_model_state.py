"""What a forward can change besides the weights, and models torch.func cannot see through (a second new user's hunt).

Each test calls `bif` as a user would on a tiny model (explicit hyperparameters where the calibration is not the point)
and asserts that the model comes back as it was, that the scores are those of the equivalent plain model, or that the
error names what to change.
"""
import warnings
import pytest, torch
from torch import nn
import torch.nn.utils.prune as prune
from bif_nbdev.all import bif, cross_entropy_loss

N, Q = 40, 5
HP = dict(chains=2, draws=10, burnin=5, eps=1e-3, gamma=100., nbeta=float(N), progress=False)
g = torch.Generator().manual_seed(0)
X, Y = torch.randn(N + Q, 5, generator=g), torch.randint(0, 3, (N + Q,), generator=g)
TR, QU = (X[:N], Y[:N]), (X[N:], Y[N:])


def mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))


class Encoder(nn.Module):
    "nn.TransformerEncoder over padded sequences: with nested tensors, its no-grad fast path computes other losses."
    def __init__(self, nested):
        super().__init__()
        self.emb, self.out = nn.Embedding(20, 16), nn.Linear(16, 3)
        layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True, dropout=0.1)
        self.enc = nn.TransformerEncoder(layer, 1, enable_nested_tensor=nested)
    def forward(self, ids, pad): return self.out(self.enc(self.emb(ids), src_key_padding_mask=pad).mean(1))


def test_fast_path_is_off_during_a_run():
    torch.manual_seed(0)
    ids, y = torch.randint(1, 20, (30, 6)), torch.randint(0, 3, (30,))
    pad = torch.zeros(30, 6, dtype=torch.bool); pad[::2, 4:] = True
    loss = lambda m, b: nn.functional.cross_entropy(m(b[0], b[1]), b[2], reduction='none')
    nested, plain = Encoder(True), Encoder(False); plain.load_state_dict(nested.state_dict())
    data = lambda s: (ids[s], pad[s], y[s])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # torch's own note on nested tensors
        r1 = bif(nested, data(slice(0, 25)), data(slice(25, 30)), loss, **HP)
        r2 = bif(plain, data(slice(0, 25)), data(slice(25, 30)), loss, **HP)
    assert torch.equal(r1.scores, r2.scores)  # before the fix: 28% apart, top-5 of a query changed
    assert torch.backends.mha.get_fastpath_enabled()  # the user's setting is back


def test_pruned_weight_comes_back():
    m = mlp(); prune.l1_unstructured(m[0], 'weight', amount=0.5)
    w0 = m[0].weight.detach().clone()
    for vec in (True, False):
        bif(m, TR, QU, cross_entropy_loss, vectorize=vec, **HP)
        assert type(m[0].weight) is torch.Tensor and torch.equal(m[0].weight, w0)  # before: a leaked vmap tensor / the last chain's


class Counter(nn.Module):
    def __init__(self):
        super().__init__(); self.lin = nn.Linear(5, 3); self.register_buffer('calls', torch.zeros(()))
    def forward(self, x): self.calls += 1; return self.lin(x)


def test_forward_that_changes_a_buffer():
    m = Counter()
    with pytest.raises(ValueError, match=r"buffers \['calls'\].*self.training"):
        bif(m, TR, QU, cross_entropy_loss, **HP)
    assert m.calls.item() == 0  # restored


def test_compiled_model_is_the_eager_one():
    m = mlp()
    r1 = bif(m, TR, QU, cross_entropy_loss, chains=2, draws=10, progress=False)
    r2 = bif(torch.compile(m), TR, QU, cross_entropy_loss, chains=2, draws=10, progress=False)
    assert torch.equal(r1.scores, r2.scores) and r1.config['eps'] == r2.config['eps']


def test_scripted_model_warns_no_preconditioner():
    m = torch.jit.script(mlp())
    with pytest.warns(UserWarning, match="no layer it can factor.*TorchScript"):
        bif(m, TR, QU, cross_entropy_loss, chains=2, draws=10, progress=False)


def test_backward_hook_and_complex_weights_named():
    m = mlp(); m[2].register_full_backward_hook(lambda mod, gi, go: None)
    with pytest.raises(ValueError, match=r"\['2'\] have backward hooks.*handle.remove"):
        bif(m, TR, QU, cross_entropy_loss, **HP)
    m = mlp(); m[2].weight = nn.Parameter(m[2].weight.to(torch.complex64))
    with pytest.raises(TypeError, match=r"\['2.weight'\] are complex"):
        bif(m, TR, QU, cross_entropy_loss, **HP)


def test_input_require_grads_hook_named():
    "Hugging Face's enable_input_require_grads (gradient checkpointing, PEFT) puts a forward hook that torch.func cannot run."
    from bif_nbdev.all import make_tiny_gptneox, causal_lm_loss
    m = make_tiny_gptneox(16, hidden_size=8, num_layers=1, num_heads=2)
    ids = torch.randint(0, 16, (12, 6), generator=torch.Generator().manual_seed(0))
    tr, qu = {'input_ids': ids[:10]}, {'input_ids': ids[10:]}
    m.enable_input_require_grads()
    with pytest.raises(ValueError, match=r"disable_input_require_grads\(\)"):
        bif(m, tr, qu, causal_lm_loss, **dict(HP, nbeta=10.))
    m.disable_input_require_grads()
    assert bif(m, tr, qu, causal_lm_loss, **dict(HP, nbeta=10.)).scores.shape == (10, 6, 2, 6)


class Noisy(nn.Module):
    "Noise on the input even in eval mode: the losses are not functions of the weights."
    def __init__(self): super().__init__(); self.lin = nn.Linear(5, 3)
    def forward(self, x): return self.lin(x + 0.1 * torch.randn_like(x))


def test_a_random_forward_is_refused():
    with pytest.raises(ValueError, match="random in eval mode"):
        bif(Noisy(), TR, QU, cross_entropy_loss, **HP)


# ================================================================================================ fourth new-user hunt
# nn.Embedding(max_norm=...) rescales the rows it looks up, in place, at every forward: bif changed the user's trained weights
# (a row of norm 1.0087 came back at 1.0), and each chain's weights between SGLD steps.
def test_an_embedding_with_max_norm_is_refused_before_changing_the_model():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Embedding(10, 4, max_norm=1.), nn.Flatten(), nn.Linear(8, 3))
    with torch.no_grad(): m[0].weight.mul_(3)  # rows above max_norm, as an optimizer step after the last forward leaves them
    w0 = m[0].weight.detach().clone()
    ids = torch.randint(0, 10, (N + Q, 2), generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"Embeddings \['0'\] have max_norm set.*max_norm=None"):
        bif(m, (ids[:N], Y[:N]), (ids[N:], Y[N:]), cross_entropy_loss, **HP)
    assert torch.equal(m[0].weight, w0)


# bif called under torch.no_grad() (an evaluation script's habit) failed with torch's "element 0 of tensors does not require
# grad"; under torch.inference_mode(), or with weights made there, with messages that named neither.
def test_grad_modes_of_the_caller():
    m = mlp()
    ref = bif(m, TR, QU, cross_entropy_loss, **HP)
    with torch.no_grad(): r = bif(m, TR, QU, cross_entropy_loss, **HP)
    assert torch.equal(r.scores, ref.scores) and torch.is_grad_enabled()
    with torch.inference_mode():
        with pytest.raises(RuntimeError, match=r'inside torch.inference_mode\(\).*call it outside'): bif(m, TR, QU, cross_entropy_loss, **HP)
        made_there = mlp()
    with pytest.raises(RuntimeError, match=r'made inside torch.inference_mode\(\).*copy.deepcopy'): bif(made_there, TR, QU, cross_entropy_loss, **HP)
    import copy
    assert torch.equal(bif(copy.deepcopy(made_there), TR, QU, cross_entropy_loss, **HP).scores, ref.scores)


class _Stateful(nn.Module):
    "Carries a summary of the last batch into the next call (a stateful RNN's hidden state, kept as a plain attribute)."
    def __init__(self): super().__init__(); torch.manual_seed(0); self.lin, self.mem = nn.Linear(5, 3), None
    def forward(self, x):
        out = self.lin(x + (0 if self.mem is None else self.mem)); self.mem = x.detach().mean(0); return out


# A forward that keeps state between calls was refused with a message naming fused kernels and randomness only.
def test_a_forward_that_keeps_state_between_calls_is_named():
    m = _Stateful()
    with pytest.raises(ValueError, match='keeps state from one call to the next'): bif(m, TR, QU, cross_entropy_loss, **HP)
    assert m.mem is None  # its attribute is back as it was (it stayed the last batch's summary)


class _Counting(nn.Module):
    def __init__(self): super().__init__(); torch.manual_seed(0); self.lin, self.calls = nn.Linear(5, 3), 0
    def forward(self, x): self.calls += 1; self.last_input = x.detach(); return self.lin(x)


# A forward that counts its calls and keeps its last input (a debugging habit): after bif, calls was 49 higher and
# last_input a tensor of bif's; both are back as they were.
def test_plain_attributes_a_forward_sets_come_back():
    m = _Counting()
    r = bif(m, TR, QU, cross_entropy_loss, **HP)
    assert m.calls == 0 and not hasattr(m, 'last_input')
    assert torch.equal(r.scores, bif(m, TR, QU, cross_entropy_loss, **HP).scores)  # a second run finds the model as the first did


class _Clipped(nn.Module):
    "Clips its weight inside forward (WGAN-style clipping put in the wrong place)."
    def __init__(self): super().__init__(); torch.manual_seed(0); self.lin = nn.Linear(5, 3)
    def forward(self, x):
        with torch.no_grad(): self.lin.weight.clamp_(-0.3, 0.3)
        return self.lin(x)


# A forward that writes into its weights ran without a word, the user's weights clipped at the end and each chain's at every
# step; now the first pass stops the run, naming the weights (it has clipped them once: no copy of the weights is kept).
def test_a_forward_that_writes_its_weights_is_named():
    m = _Clipped()
    with pytest.raises(ValueError, match=r"forward wrote into its weights \['lin.weight'\] in place"):
        bif(m, TR, QU, cross_entropy_loss, **HP)
