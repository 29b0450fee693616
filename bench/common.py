"Models, data and timing helpers shared by the benchmark scripts (built from configs and seeds; nothing downloaded)."
import statistics, time
import torch
from torch import nn


def median_time(fn, repeats=5, warmup=1, sync=None):
    "Median wall time of fn() over `repeats` calls after `warmup` calls (and all times)."
    for _ in range(warmup): fn()
    ts = []
    for _ in range(repeats):
        if sync: sync()
        t = time.perf_counter(); fn()
        if sync: sync()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), ts


def cuda_sync(device):
    return (lambda: torch.cuda.synchronize()) if torch.device(device).type == 'cuda' else None


def mlp_problem(n=1000, q=100, d=64, hidden=128, classes=10, seed=0, device='cpu'):
    "A trained 2-layer MLP classifier on Gaussian-mixture data: (model, train, query, loss_fn)."
    from bif_nbdev.core import cross_entropy_loss
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, d, generator=g) * 0.25  # overlapping classes: a finite loss at w*
    y = torch.randint(0, classes, (n + q,), generator=g)
    X = centers[y] + torch.randn(n + q, d, generator=g)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, classes))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(100):
        opt.zero_grad(); nn.functional.cross_entropy(model(X[:n]), y[:n]).backward(); opt.step()
    model.to(device)
    return model, (X[:n].to(device), y[:n].to(device)), (X[n:].to(device), y[n:].to(device)), cross_entropy_loss


def token_loss(model, batch):
    "Per-token next-token cross-entropy [B, S-1] of a causal LM (`batch = (ids,)`)."
    ids = batch[0]
    logits = model(input_ids=ids[:, :-1]).logits
    return nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction='none')


def gptneox_problem(hidden=64, layers=2, heads=4, vocab=512, n=64, q=16, seq=64, seed=0, device='cpu', train_steps=30):
    "A small Pythia-style GPTNeoX (from a config, random init, briefly trained on synthetic sequences)."
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM
    cfg = GPTNeoXConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=4 * hidden, max_position_embeddings=max(128, seq), use_cache=False)
    torch.manual_seed(seed)
    model = GPTNeoXForCausalLM(cfg)
    model.config._attn_implementation = 'eager'
    g = torch.Generator().manual_seed(seed)
    # sequences with structure: token t+1 = (a*token t + b) mod vocab for a per-sequence (a, b), with some noise
    a, b = torch.randint(1, 8, (n + q, 1), generator=g), torch.randint(0, vocab, (n + q, 1), generator=g)
    ids = torch.zeros(n + q, seq, dtype=torch.long); ids[:, 0] = torch.randint(0, vocab, (n + q,), generator=g)
    for t in range(1, seq): ids[:, t] = (a[:, 0] * ids[:, t - 1] + b[:, 0]) % vocab
    flip = torch.rand(n + q, seq, generator=g) < 0.1
    ids = torch.where(flip, torch.randint(0, vocab, (n + q, seq), generator=g), ids)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(train_steps):
        opt.zero_grad(); token_loss(model, (ids[:n],)).mean().backward(); opt.step()
    model.eval().to(device)
    return model, (ids[:n].to(device),), (ids[n:].to(device),), token_loss
