#!/usr/bin/env python3
"""Makes the small transformer models the tests load (seeded, random weights; tens of KB each).

Run with Debian's python3-torch:  /usr/bin/python3 tests/models/make_transformer_models.py

vit_tiny_{scripted,traced}.pt — input [2, 3, 16, 16]: examples/models/vit.py's ViT (written as timm writes it):
    patch_embed (Conv2d 3->32, 4x4 stride 4) -> flatten(2).transpose(1, 2) -> cat of a class token ->
    + position embedding -> 2 blocks [x + proj(attention(qkv(norm1(x)))), x + fc2(GELU(fc1(norm2(x))))] ->
    norm -> head (Linear 32->10) on the class token. Attention: qkv (Linear 32->96) -> reshape(N, T, 3, 2, 16)
    -> permute(2, 0, 3, 1, 4) -> unbind(0) -> (q * scale) @ k.transpose(-2, -1) -> softmax -> @ v ->
    transpose(1, 2) -> reshape(N, T, 32). LayerNorm, exact GELU.
encoder_tiny_{scripted,traced}.pt — input [2, 12, 24] (token features): a 2-layer post-norm encoder in the
    BERT style: separate query / key / value Linear layers, split into heads with view + permute, torch.matmul,
    + 1/sqrt(d) as a division, softmax, dense (Linear) + residual + LayerNorm, intermediate (Linear 24->48)
    with tanh-GELU, output (Linear 48->24) + residual + LayerNorm; mean over tokens -> pooler (Linear, tanh)
    -> classifier (Linear 24->4). baddbmm and bmm appear in the second layer's attention.
../data/transformer_outputs.json — for each model, a seeded input and the eager PyTorch model's output on it.
token_lm_{scripted,traced}.pt — two inputs, input_ids [2, 12] and attention_mask [2, 12] (int64; 1 = token,
    0 = padding): a BERT-style token model. Embedding (40 x 24) + position embedding -> LayerNorm -> 2 post-norm
    encoder layers whose attention scores are masked_fill'ed where the mask is 0 -> Linear head to 40 logits
    per token: output [N, 12, 40].
../data/token_lm/{input_ids,attention_mask,labels}.npy — 96 seeded sequences of 5 to 12 tokens, padded with
    id 0 / mask 0; labels are the next token (-100 at padding and at each sequence's last token).
../data/token_lm/reference.json — the eager model's output on the first 2 sequences, and its per-token
    accuracy and perplexity over all 96 (labels -100 ignored, as F.cross_entropy does).
mha_lm_{scripted,traced,traced_nograd}.pt — token_lm's inputs and data, encoder layers on nn.MultiheadAttention
    (24 wide, 2 heads) in the three forms TorchScript gives it: layer 0 batch-first with a key padding mask
    (attention_mask == 0) and need_weights=False, layer 1 sequence-first with the padding mask and a causal
    boolean attn_mask (need_weights left True). Traced with gradients on, both are F.multi_head_attention_forward's
    ops; traced under torch.no_grad(), layer 0 is the fused aten::_native_multi_head_attention.
mha_bias_kv_scripted.pt — input [2, 5, 8]: one nn.MultiheadAttention with add_bias_kv=True (not supported).
../data/mha_lm_reference.json — as token_lm's reference.json, for mha_lm.
sdpa_{scripted,traced}.pt — input [2, 12, 24]: 2 blocks [x + proj(F.scaled_dot_product_attention(qkv(x) split
    in 2 heads)) -> LayerNorm] -> mean over tokens -> head (Linear 24->4); block 0 is_causal=True, block 1 a
    boolean attn_mask (a fixed random pattern, the diagonal allowed) and scale=0.25. PyTorch 1.13 has no
    F.scaled_dot_product_attention (PyTorch 2.0 added it): the models are made with a stand-in op of the same
    schema, adaflow_stub::scaled_dot_product_attention computing the reference math of PyTorch's documentation,
    and the saved archives' code is edited to call torch.scaled_dot_product_attention, as PyTorch 2's does
    (their debug files, which map code positions to source lines, left out).
../data/sdpa_outputs.json — the stand-in's output for a seeded input.
"""
import io
import json
import math
import zipfile
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "models"))
from vit import Vit  # noqa: E402
from make_test_models import save_scripted_and_traced  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, batched: bool):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.batched = batched
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)

    def split(self, x):
        n, t, _ = x.shape
        return x.view(n, t, self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x):
        n, t, c = x.shape
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        if self.batched:
            q = q.reshape(n * self.heads, t, self.head_dim)
            k = k.reshape(n * self.heads, t, self.head_dim)
            v = v.reshape(n * self.heads, t, self.head_dim)
            zeros = torch.zeros(n * self.heads, t, t)
            scores = torch.baddbmm(zeros, q, k.transpose(1, 2), beta=0.0, alpha=1.0 / math.sqrt(self.head_dim))
            context = torch.bmm(scores.softmax(dim=-1), v).view(n, self.heads, t, self.head_dim)
        else:
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
            context = torch.matmul(F.softmax(scores, dim=-1), v)
        return context.permute(0, 2, 1, 3).contiguous().view(n, t, c)


class EncoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int, batched: bool):
        super().__init__()
        self.attention = SelfAttention(dim, heads, batched)
        self.dense = nn.Linear(dim, dim)
        self.attention_norm = nn.LayerNorm(dim, eps=1e-12)
        self.intermediate = nn.Linear(dim, hidden)
        self.output = nn.Linear(hidden, dim)
        self.output_norm = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, x):
        x = self.attention_norm(x + self.dense(self.attention(x)))
        h = F.gelu(self.intermediate(x), approximate="tanh")
        return self.output_norm(x + self.output(h))


class EncoderTiny(nn.Module):
    def __init__(self, dim: int = 24, heads: int = 3, classes: int = 4):
        super().__init__()
        self.layers = nn.ModuleList([EncoderLayer(dim, heads, 2 * dim, batched=False),
                                     EncoderLayer(dim, heads, 2 * dim, batched=True)])
        self.pooler = nn.Linear(dim, dim)
        self.classifier = nn.Linear(dim, classes)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.classifier(torch.tanh(self.pooler(x.mean(dim=1))))


class MaskedAttention(SelfAttention):
    """SelfAttention (matmul form) whose scores are masked where attention_mask is 0."""

    def __init__(self, dim: int, heads: int):
        super().__init__(dim, heads, batched=False)

    def forward(self, x, mask):
        n, t, c = x.shape
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        scores = scores.masked_fill(mask.unsqueeze(1).unsqueeze(2) == 0, -10000.0)
        context = torch.matmul(F.softmax(scores, dim=-1), v)
        return context.permute(0, 2, 1, 3).contiguous().view(n, t, c)


class TokenLayer(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int):
        super().__init__()
        self.attention = MaskedAttention(dim, heads)
        self.dense = nn.Linear(dim, dim)
        self.attention_norm = nn.LayerNorm(dim, eps=1e-12)
        self.intermediate = nn.Linear(dim, hidden)
        self.output = nn.Linear(hidden, dim)
        self.output_norm = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, x, mask):
        x = self.attention_norm(x + self.dense(self.attention(x, mask)))
        return self.output_norm(x + self.output(F.gelu(self.intermediate(x))))


class TokenLm(nn.Module):
    def __init__(self, vocab: int = 40, tokens: int = 12, dim: int = 24, heads: int = 3):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.position = nn.Parameter(0.1 * torch.randn(1, tokens, dim))
        self.norm = nn.LayerNorm(dim, eps=1e-12)
        self.layers = nn.ModuleList([TokenLayer(dim, heads, 2 * dim), TokenLayer(dim, heads, 2 * dim)])
        self.head = nn.Linear(dim, vocab)

    def forward(self, input_ids, attention_mask):
        x = self.norm(self.embed(input_ids) + self.position)
        for layer in self.layers:
            x = layer(x, attention_mask)
        return self.head(x)


def token_data(count: int, tokens: int, vocab: int):
    """Sequences of 5..tokens ids in [1, vocab), padded with 0; labels: the next token, -100 where none."""
    lengths = torch.randint(5, tokens + 1, (count,))
    ids = torch.randint(1, vocab, (count, tokens))
    mask = (torch.arange(tokens).unsqueeze(0) < lengths.unsqueeze(1)).long()
    ids = ids * mask
    labels = torch.full((count, tokens), -100, dtype=torch.long)
    labels[:, :-1] = ids[:, 1:]
    labels[mask == 0] = -100
    labels[torch.arange(count), lengths - 1] = -100
    return ids, mask, labels


def make_token_lm():
    import numpy as np
    torch.manual_seed(1)
    model = TokenLm()
    randomize_norms(model)
    model.eval()
    ids, mask, labels = token_data(96, 12, 40)
    save_scripted_and_traced(model, (ids[:2], mask[:2]), "token_lm")
    folder = os.path.join(HERE, "..", "data", "token_lm")
    os.makedirs(folder, exist_ok=True)
    for name, array in (("input_ids", ids), ("attention_mask", mask), ("labels", labels)):
        np.save(os.path.join(folder, name + ".npy"), array.numpy().astype(np.int64))
    with torch.no_grad():
        logits = model(ids, mask)
    kept = labels != -100
    accuracy = 100.0 * (logits.argmax(-1)[kept] == labels[kept]).double().mean().item()
    perplexity = math.exp(F.cross_entropy(logits.double().reshape(-1, 40), labels.reshape(-1)).item())
    reference = {"output_shape": [2, 12, 40], "output": logits[:2].flatten().tolist(),
                 "token_accuracy": accuracy, "perplexity": perplexity, "tokens": int(kept.sum())}
    with open(os.path.join(folder, "reference.json"), "w") as f:
        json.dump(reference, f)
        f.write("\n")


class MhaLayer(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int, batch_first: bool, tokens: int):
        super().__init__()
        self.batch_first = batch_first
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=batch_first)
        self.norm1 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.register_buffer("causal", torch.triu(torch.ones(tokens, tokens, dtype=torch.bool), 1))

    def forward(self, x, padding):
        if self.batch_first:
            a, _ = self.attn(x, x, x, key_padding_mask=padding, need_weights=False)
        else:
            t = x.transpose(0, 1)
            a, _ = self.attn(t, t, t, key_padding_mask=padding, attn_mask=self.causal)
            a = a.transpose(0, 1)
        x = self.norm1(x + a)
        return self.norm2(x + self.fc2(F.gelu(self.fc1(x))))


class MhaLm(nn.Module):
    def __init__(self, vocab: int = 40, tokens: int = 12, dim: int = 24, heads: int = 2):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.position = nn.Parameter(0.1 * torch.randn(1, tokens, dim))
        self.layers = nn.ModuleList([MhaLayer(dim, heads, 2 * dim, True, tokens),
                                     MhaLayer(dim, heads, 2 * dim, False, tokens)])
        self.head = nn.Linear(dim, vocab)

    def forward(self, input_ids, attention_mask):
        x = self.embed(input_ids) + self.position
        padding = attention_mask == 0
        for layer in self.layers:
            x = layer(x, padding)
        return self.head(x)


def make_mha_lm():
    import numpy as np
    torch.manual_seed(2)
    model = MhaLm()
    randomize_norms(model)
    model.eval()
    folder = os.path.join(HERE, "..", "data", "token_lm")
    ids = torch.from_numpy(np.load(os.path.join(folder, "input_ids.npy")))
    mask = torch.from_numpy(np.load(os.path.join(folder, "attention_mask.npy")))
    labels = torch.from_numpy(np.load(os.path.join(folder, "labels.npy")))
    example = (ids[:2], mask[:2])
    torch.jit.script(model).save(os.path.join(HERE, "mha_lm_scripted.pt"))
    # The trace check reruns without gradients, where the fast path gives other ops: not comparable.
    torch.jit.trace(model, example, check_trace=False).save(os.path.join(HERE, "mha_lm_traced.pt"))
    with torch.no_grad():
        torch.jit.trace(model, example, check_trace=False).save(os.path.join(HERE, "mha_lm_traced_nograd.pt"))
        logits = model(ids, mask)
    kept = labels != -100
    accuracy = 100.0 * (logits.argmax(-1)[kept] == labels[kept]).double().mean().item()
    perplexity = math.exp(F.cross_entropy(logits.double().reshape(-1, 40), labels.reshape(-1)).item())
    reference = {"output_shape": [2, 12, 40], "output": logits[:2].flatten().tolist(),
                 "token_accuracy": accuracy, "perplexity": perplexity, "tokens": int(kept.sum())}
    with open(os.path.join(HERE, "..", "data", "mha_lm_reference.json"), "w") as f:
        json.dump(reference, f)
        f.write("\n")
    bias_kv = nn.MultiheadAttention(8, 2, add_bias_kv=True, batch_first=True).eval()
    torch.jit.script(BiasKv(bias_kv)).save(os.path.join(HERE, "mha_bias_kv_scripted.pt"))


class BiasKv(nn.Module):
    def __init__(self, attn):
        super().__init__()
        self.attn = attn

    def forward(self, x):
        return self.attn(x, x, x, need_weights=False)[0]


def reference_sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """F.scaled_dot_product_attention's reference implementation, as PyTorch's documentation writes it."""
    L, S = query.size(-2), key.size(-2)
    scale_factor = 1 / math.sqrt(query.size(-1)) if scale is None else scale
    attn_bias = torch.zeros(L, S, dtype=query.dtype)
    if is_causal:
        temp_mask = torch.ones(L, S, dtype=torch.bool).tril(diagonal=0)
        attn_bias.masked_fill_(temp_mask.logical_not(), float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            attn_bias = attn_bias.masked_fill(attn_mask.logical_not(), float("-inf"))
        else:
            attn_bias = attn_bias + attn_mask
    attn_weight = query @ key.transpose(-2, -1) * scale_factor
    attn_weight = attn_weight + attn_bias
    attn_weight = torch.softmax(attn_weight, dim=-1)
    return attn_weight @ value


class SdpaBlock(nn.Module):
    def __init__(self, dim: int, heads: int, tokens: int, causal: bool):
        super().__init__()
        self.heads = heads
        self.causal = causal
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)
        allowed = (torch.rand(tokens, tokens) > 0.3) | torch.eye(tokens, dtype=torch.bool)
        self.register_buffer("allowed", allowed)

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        if self.causal:
            y = torch.ops.adaflow_stub.scaled_dot_product_attention(q, k, v, None, 0.0, True)
        else:
            y = torch.ops.adaflow_stub.scaled_dot_product_attention(q, k, v, self.allowed, 0.0, False, scale=0.25)
        return self.norm(x + self.proj(y.transpose(1, 2).reshape(n, t, d)))


class SdpaNet(nn.Module):
    def __init__(self, dim: int = 24, tokens: int = 12):
        super().__init__()
        self.blocks = nn.ModuleList([SdpaBlock(dim, 2, tokens, True), SdpaBlock(dim, 2, tokens, False)])
        self.head = nn.Linear(dim, 4)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x.mean(1))


def save_as_pytorch2(module, path):
    """Saves `module` with its stand-in calls written as torch.scaled_dot_product_attention (see above)."""
    buffer = io.BytesIO()
    torch.jit.save(module, buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as out:
        for info in source.infolist():
            if info.filename.endswith(".debug_pkl"):
                continue
            data = source.read(info.filename)
            if info.filename.endswith(".py"):
                data = data.replace(b"ops.adaflow_stub.scaled_dot_product_attention",
                                    b"torch.scaled_dot_product_attention")
            out.writestr(info.filename, data)


def make_sdpa():
    library = torch.library.Library("adaflow_stub", "DEF")
    library.define("scaled_dot_product_attention(Tensor query, Tensor key, Tensor value, Tensor? attn_mask=None, "
                   "float dropout_p=0.0, bool is_causal=False, *, float? scale=None) -> Tensor")
    library.impl("scaled_dot_product_attention", reference_sdpa, "CPU")
    torch.manual_seed(3)
    model = SdpaNet()
    randomize_norms(model)
    model.eval()
    example = torch.randn(2, 12, 24)
    save_as_pytorch2(torch.jit.script(model), os.path.join(HERE, "sdpa_scripted.pt"))
    save_as_pytorch2(torch.jit.trace(model, example), os.path.join(HERE, "sdpa_traced.pt"))
    x = torch.randn(2, 12, 24)
    with torch.no_grad():
        y = model(x)
    reference = {"input_shape": [2, 12, 24], "input": [round(v, 7) for v in x.flatten().tolist()],
                 "output_shape": list(y.shape), "output": y.flatten().tolist()}
    with open(os.path.join(HERE, "..", "data", "sdpa_outputs.json"), "w") as f:
        json.dump(reference, f)
        f.write("\n")


def randomize_norms(model):
    """LayerNorm's weight and bias away from (1, 0), so a quantizer on them is seen."""
    for m in model.modules():
        if isinstance(m, nn.LayerNorm):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)


def main():
    torch.manual_seed(0)
    vit = Vit(image=16, patch=4, dim=32, depth=2, heads=2, classes=10, channels=3)
    randomize_norms(vit)
    encoder = EncoderTiny()
    randomize_norms(encoder)
    references = {}
    for stem, model, shape in (("vit_tiny", vit.eval(), [2, 3, 16, 16]), ("encoder_tiny", encoder.eval(), [2, 12, 24])):
        save_scripted_and_traced(model, torch.randn(*shape), stem)
        # The eager model's output on a seeded input: the tests check that the loaded TorchScript gives it.
        x = torch.randn(*shape)
        with torch.no_grad():
            y = model(x)
        references[stem] = {"input_shape": shape, "input": [round(v, 7) for v in x.flatten().tolist()],
                            "output_shape": list(y.shape), "output": y.flatten().tolist()}
    with open(os.path.join(HERE, "..", "data", "transformer_outputs.json"), "w") as f:
        json.dump(references, f)
        f.write("\n")
    make_token_lm()
    make_mha_lm()
    make_sdpa()


if __name__ == "__main__":
    main()
