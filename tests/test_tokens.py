"Tests of bif_nbdev.tokens as a user calls it: the per-token contract of bif() and the chunked top-k."
import pytest, torch
from bif_nbdev.all import (bif, causal_lm_loss, make_word_tokenizer, make_tiny_gptneox, text_loader, token_table,
                           top_token_influences, chunked_top_k, StreamingCov, per_example_losses, make_structured_corpus,
                           train_causal_lm, token_mask)

torch.set_num_threads(1)


def _run():
    texts = ['a b c', 'c b a d e', 'b c', 'd e a b', 'e d']
    tok = make_word_tokenizer(texts)
    lm = make_tiny_gptneox(len(tok), hidden_size=16, num_layers=1, num_heads=2, tokenizer=tok)
    dl = text_loader(texts, tok, batch_size=2)                    # batches padded to different widths
    r = bif(lm, dl, dl, causal_lm_loss, chains=2, draws=20, burnin=5, eps=1e-3, gamma=100., nbeta=10., progress=False)
    return lm, dl, tok, r


def test_per_token_contract():
    lm, dl, tok, r = _run()
    ids, mask = token_table(dl, tok.pad_token_id)
    assert r.scores.shape == (5, ids.shape[1], 5, ids.shape[1])
    seq = r.per_sequence().scores.double()  # float32 scores: tolerance at float32 rounding of the largest entry
    assert torch.allclose(r.scores.double().sum((1, 3)), seq, rtol=1e-5, atol=1e-6 * seq.abs().max().item())
    assert r.scores[~mask].abs().max() == 0 and r.scores.permute(2, 3, 0, 1)[~mask].abs().max() == 0
    assert (r.scores[mask][:, mask] != 0).any()
    # per_example_losses lays out per-token losses like the result: widest batch, zeros on the right
    l0 = per_example_losses(lm, dl, causal_lm_loss)
    assert l0.shape == ids.shape and (l0[~mask] == 0).all() and (l0[mask] > 0).all()


def test_top_k_chunks_agree_with_full_topk():
    _, dl, tok, r = _run()
    _, mask = token_table(dl, tok.pad_token_id)
    for chunk in (1, 3, 1000):
        top = top_token_influences(r, k=4, by='scores', train_mask=mask, chunk=chunk)
        full = r.scores.reshape(-1, r.scores[0, 0].numel()).masked_fill(~mask.reshape(-1, 1), float('inf'))
        want = torch.topk(-full, 4, dim=0)
        assert torch.equal(top.values.reshape(-1, 4), -want.values.T)


def test_streaming_rows_and_order_independence():
    g = torch.Generator().manual_seed(1)
    sc = StreamingCov(30, 5, chains=2, buffer=4)
    for _ in range(25): sc.update(torch.randn(2, 30, generator=g), torch.randn(2, 5, generator=g))
    assert torch.allclose(torch.cat([sc.cov_rows(s, min(s + 7, 30)) for s in range(0, 30, 7)]), sc.cov())
    M = torch.randn(100, 3, generator=g)
    v1, i1 = chunked_top_k(lambda a, b: M[a:b], 100, 5, chunk=9)
    v2, i2 = chunked_top_k(lambda a, b: M.flip(0)[a:b], 100, 5, chunk=13)
    assert torch.equal(v1, v2) and torch.equal(i1, 99 - i2)


def test_reused_step_losses_per_token():
    "A draw's minibatch rows taken from the SGLD step (padded to the minibatch's width) = evaluating every row again."
    texts = ['a b c', 'c b a d e', 'b c', 'd e a b', 'e d', 'a e', 'b d c a e']
    tok = make_word_tokenizer(texts)
    lm = make_tiny_gptneox(len(tok), hidden_size=16, num_layers=1, num_heads=2, tokenizer=tok)
    dl = text_loader(texts, tok, batch_size=3)
    ids, mask = token_table(dl, tok.pad_token_id)
    for B in (2, 7):  # a minibatch of 2 of the 7 texts, and the full batch (every row from the step)
        kw = dict(chains=2, draws=12, burnin=3, thin=2, eps=1e-3, gamma=100., nbeta=10., batch_size=B, progress=False, keep_trajectories=True)
        on, off = (bif(lm, dl, dl, causal_lm_loss, reuse_step_losses=r, **kw) for r in (True, False))
        assert torch.allclose(on.trajectories['train'], off.trajectories['train'], rtol=1e-5, atol=1e-6)
        scale = off.scores.abs().max()
        assert scale > 0 and (on.scores - off.scores).abs().max() <= 1e-4 * scale
        assert on.scores[~mask].abs().max() == 0


def _misaligned_loss(model, batch):
    "Per-token losses in the padded batch's columns (the layout causal_lm_loss no longer uses): left padding shifts them."
    from bif_nbdev.hf import _batch_parts, _logits
    ids, am, _ = _batch_parts(batch); logits = _logits(model, ids, am)
    t = torch.where(token_mask(batch)[:, 1:], ids[:, 1:], -100)
    nll = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), t, reduction='none', ignore_index=-100)
    return torch.cat([nll.new_zeros(ids.shape[0], 1), nll], 1)


def test_per_token_columns_do_not_depend_on_padding_side_batching_or_reuse():
    "Column s is token s of each text: left and right padding, eval batch sizes and reused step losses give the same scores."
    texts, _ = make_structured_corpus(seed=0, n_texts=30)
    tok = make_word_tokenizer(texts)
    m = make_tiny_gptneox(len(tok), hidden_size=16, num_layers=1, num_heads=2, tokenizer=tok)
    train_causal_lm(m, text_loader(texts, tok, 16), steps=20)
    kw = dict(chains=2, draws=12, eps=1e-4, gamma=100., nbeta=24., batch_size=8, seed=1, progress=False, vectorize=False)
    runs = {}
    for side in ('left', 'right'):
        for ebs, reuse in ((8, True), (3, False)):
            tr, q = text_loader(texts[:24], tok, 8, padding_side=side), text_loader(texts[24:], tok, 8, padding_side=side)
            runs[side, ebs] = bif(m, tr, q, causal_lm_loss, eval_batch_size=ebs, reuse_step_losses=reuse, **kw).scores
    ref = runs['right', 8]
    assert ref.abs().max() > 0
    for k, v in runs.items(): assert (v - ref).abs().max() <= 1e-5 * ref.abs().max(), k
    left = (text_loader(texts[:24], tok, 8, padding_side='left'), text_loader(texts[24:], tok, 8, padding_side='left'))
    with pytest.raises(ValueError, match='other columns'): bif(m, *left, _misaligned_loss, **kw)
