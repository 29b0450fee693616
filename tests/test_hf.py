"Tests of bif_nbdev.hf as a user calls it: per-token losses, padding, tokenizer, data plumbing, torch.func."
import pytest
import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, GPT2Config, GPT2LMHeadModel
from bif_nbdev.all import (causal_lm_loss, causal_lm_sequence_loss, token_mask, align_left, make_word_tokenizer, token_strings,
                           text_loader, as_examples, make_structured_corpus, make_tiny_gptneox, functional_loss,
                           trainable_params, per_example_losses)

torch.set_num_threads(1)


def _neox():
    torch.manual_seed(0)
    return GPTNeoXForCausalLM(GPTNeoXConfig(vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                            intermediate_size=64, max_position_embeddings=32)).eval()


def _gpt2():
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=40, n_embd=32, n_layer=2, n_head=4, n_positions=32,
                                      bos_token_id=0, eos_token_id=0)).eval()


MODELS = [pytest.param(_neox, id='gptneox'), pytest.param(_gpt2, id='gpt2')]


def _pad(rows, side):
    S = max(map(len, rows))
    ids, am = torch.zeros(len(rows), S, dtype=torch.long), torch.zeros(len(rows), S, dtype=torch.long)
    for i, r in enumerate(rows):
        sl = slice(0, len(r)) if side == 'right' else slice(S - len(r), S)
        ids[i, sl], am[i, sl] = torch.tensor(r), 1
    return {'input_ids': ids, 'attention_mask': am}


@pytest.mark.parametrize('make', MODELS)
def test_token_losses_equal_manual_cross_entropy(make):
    m = make()
    ids = torch.randint(1, 40, (3, 6), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got = causal_lm_loss(m, {'input_ids': ids, 'attention_mask': torch.ones_like(ids)})
        logits = m(input_ids=ids).logits
    want = torch.zeros(3, 6)
    for b in range(3):
        for s in range(1, 6):
            want[b, s] = torch.logsumexp(logits[b, s - 1], 0) - logits[b, s - 1, ids[b, s]]
    assert torch.allclose(got, want, atol=1e-5)
    assert (got[:, 0] == 0).all()


@pytest.mark.parametrize('make', MODELS)
def test_padding_is_zero_masked_and_side_independent(make):
    m = make()
    rows = [[3, 9, 4], [5, 1, 8, 2, 6, 2]]
    r, l = _pad(rows, 'right'), _pad(rows, 'left')
    with torch.no_grad():
        lr, ll = causal_lm_loss(m, r), causal_lm_loss(m, l)
        alone = causal_lm_loss(m, {'input_ids': torch.tensor([rows[0]])})[0]
    assert token_mask(r)[0].tolist() == [False, True, True, False, False, False]
    assert token_mask(l)[0].tolist() == [False, False, False, False, True, True]
    lmask = align_left(token_mask(l), l['attention_mask'], fill=False)  # causal_lm_loss's columns: token s of each text
    assert (lr[~token_mask(r)] == 0).all() and (ll[~lmask] == 0).all()
    assert (lr[token_mask(r)] > 0).all()
    assert torch.allclose(lr[0, :3], alone, atol=1e-5) and torch.allclose(ll[0, :3], alone, atol=1e-5)
    assert torch.allclose(lr, ll, atol=1e-5)


def test_labels_minus_100_are_ignored_and_match_hf_mean_loss():
    m = _neox()
    ids = torch.randint(1, 40, (2, 5), generator=torch.Generator().manual_seed(1))
    lab = ids.clone(); lab[:, :2] = -100
    with torch.no_grad():
        l = causal_lm_loss(m, {'input_ids': ids, 'labels': lab})
        hf = m(input_ids=ids, labels=lab).loss
    assert (l[:, :2] == 0).all()
    assert torch.allclose(l.sum() / token_mask({'input_ids': ids, 'labels': lab}).sum(), hf, atol=1e-5)


@pytest.mark.parametrize('make', MODELS)
def test_sequence_loss_is_sum_of_token_losses(make):
    m, b = make(), _pad([[3, 9, 4], [5, 1, 8, 2, 6]], 'left')
    with torch.no_grad():
        assert torch.allclose(causal_lm_sequence_loss(m, b), causal_lm_loss(m, b).sum(1))


def test_bad_batches_say_what_to_change():
    m = _neox()
    with pytest.raises(TypeError, match='dict'): causal_lm_loss(m, (torch.zeros(2, 3, dtype=torch.long),))
    with pytest.raises(ValueError, match='same shape'):
        causal_lm_loss(m, {'input_ids': torch.zeros(2, 3, dtype=torch.long), 'attention_mask': torch.ones(2, 4)})


def test_tokenizer_round_trips_and_pads_both_sides():
    texts = ['7 is seven', 'seven plus one is 8']
    tok = make_word_tokenizer(texts)
    for side in ('left', 'right'):
        enc = tok(texts, padding=True, return_tensors='pt', padding_side=side)
        assert [tok.decode(r, skip_special_tokens=True) for r in enc['input_ids']] == texts
        assert enc['attention_mask'].sum(1).tolist() == [4, 6]
    assert token_strings(tok, tok('7 is seven')['input_ids']) == ['[BOS]', '7', 'is', 'seven']


def test_loader_per_token_losses_match_unpadded_texts():
    "A shuffled, left-padded DataLoader of fixed width gives, row by row, the losses of each text alone, in the text's own columns."
    texts, _ = make_structured_corpus(seed=0, n_texts=10)
    tok = make_word_tokenizer(texts)
    m = make_tiny_gptneox(len(tok), hidden_size=32, tokenizer=tok)
    dl = text_loader(texts, tok, batch_size=3, shuffle=True, padding_side='left', max_length=9)
    got = per_example_losses(m, dl, causal_lm_loss)
    assert got.shape == (10, 9)
    for i, t in enumerate(texts):
        with torch.no_grad(): alone = causal_lm_loss(m, tok([t], return_tensors='pt'))[0]
        assert torch.allclose(got[i, :len(alone)], alone, atol=1e-5)  # column s = token s of the text, padding side aside
        assert got[i, 0] == 0 and (got[i, len(alone):] == 0).all()


def test_vmap_over_stacked_parameters_matches_loop():
    texts, _ = make_structured_corpus(seed=0, n_texts=6)
    tok = make_word_tokenizer(texts)
    m = make_tiny_gptneox(len(tok), hidden_size=32, tokenizer=tok)
    b = tok(texts, padding=True, return_tensors='pt', padding_side='left')
    f, p = functional_loss(m, causal_lm_loss), trainable_params(m)
    g = torch.Generator().manual_seed(0)
    stacked = {k: torch.stack([v + 0.01 * c * torch.randn(v.shape, generator=g) for c in range(3)]) for k, v in p.items()}
    with torch.no_grad():
        out = torch.func.vmap(f, in_dims=(0, None))(stacked, b)
        for c in range(3):
            assert torch.allclose(out[c], f({k: v[c] for k, v in stacked.items()}, b), atol=1e-5)
    assert not torch.allclose(out[0], out[2])
