"""numpyvit.exercises: the answer key passes every check, every near miss fails with a useful
message, and the capstone's ViT on the answer key gradient-checks, trains like the package's,
and fails its gradient check with one planted bug.

Each negative test plants one mistake a learner plausibly makes (built on the answer key, so
everything else is right) and asserts the FAIL line names what is wrong.
"""
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from numpyvit import SoftmaxCrossEntropy, ViTConfig, VisionTransformer, gradcheck, max_rel_error, random_point
from numpyvit.exercises import NAMES, check, relative_error
from numpyvit.exercises.backward import NAMES as BACKWARD_NAMES
from numpyvit.exercises.capstone import NEEDED, WithLoss, YourCrossEntropy, missing, your_vit
from numpyvit.gradcheck import numerical_gradient

SOLUTIONS = Path(__file__).resolve().parents[1] / "notebooks" / "solutions" / "your_turn.py"


def load_solutions():
    spec = importlib.util.spec_from_file_location("your_turn", SOLUTIONS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


S = load_solutions()


def run(capsys, name, fn):
    """check's verdict and the text it printed."""
    passed = check(name, fn)
    return passed, capsys.readouterr().out


# --- the answer key passes -------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_answer_key_passes_against_reference_and_numerical_gradient(name, capsys):
    passed, out = run(capsys, name, getattr(S, name))
    assert passed, out
    assert out.startswith(f"PASS {name}:"), out
    assert ("numerical gradient" in out) == (name in BACKWARD_NAMES), out
    assert "FAIL" not in out and "hint" not in out, out


def package_backward(name):
    """The package's own backward pass, called through the exercise's signature."""
    from numpyvit import GELU, LayerNorm, Linear, SoftmaxCrossEntropy, softmax_backward
    from numpyvit.exercises.backward import _attention_reference, _embed_reference

    def linear_backward(x, W, dout):
        layer = Linear(W.shape[1], W.shape[0], rng=0, dtype=np.float64)
        layer.params["weight"][...] = W
        layer.forward(x)
        dx = layer.backward(dout)
        return dx, layer.grads["weight"], layer.grads["bias"]

    def cross_entropy_backward(logits, labels):
        loss = SoftmaxCrossEntropy()
        loss.forward(logits, labels)
        return loss.backward()

    def layernorm_backward(x, weight, dout, eps):
        layer = LayerNorm(x.shape[-1], eps=eps, dtype=np.float64)
        layer.params["weight"][...] = weight
        layer.forward(x)
        dx = layer.backward(dout)
        return dx, layer.grads["weight"], layer.grads["bias"]

    def gelu_backward(x, dout):
        layer = GELU(dtype=np.float64)
        layer.forward(x)
        return layer.backward(dout)

    def attention_backward(q, k, v, dout):
        return _attention_reference({"q": q, "k": k, "v": v}, dout)

    def embed_backward(dtokens):
        return _embed_reference(None, dtokens)

    return {"linear_backward": linear_backward, "softmax_backward": softmax_backward,
            "cross_entropy_backward": cross_entropy_backward, "layernorm_backward": layernorm_backward,
            "gelu_backward": gelu_backward, "attention_backward": attention_backward,
            "embed_backward": embed_backward}[name]


@pytest.mark.parametrize("name", BACKWARD_NAMES)
def test_package_layers_pass_so_every_reference_agrees_with_the_numerical_gradient(name, capsys):
    passed, out = run(capsys, name, package_backward(name))
    assert passed, out


def test_names_list_the_exercises_in_notebook_order_forward_then_backward():
    assert NAMES == ("patchify", "interpolate_pos_embed", "split_heads", "attention_forward", "merge_heads",
                     "linear_backward", "cross_entropy_backward", "softmax_backward", "layernorm_backward",
                     "gelu_backward", "attention_backward", "embed_backward")


def test_forward_references_are_the_package_layers_own_layout():
    # split_heads' reference is exactly the q that Attention.forward keeps when qkv passes x
    # through unchanged, and merge_heads' reference undoes it
    from numpyvit import Attention
    from numpyvit.exercises.forward import _merge, _split
    x = np.random.default_rng(1).standard_normal((2, 5, 12))
    attn = Attention(12, heads=3, rng=0, dtype=np.float64)
    attn.qkv.params["weight"][...] = np.tile(np.eye(12), (3, 1))     # q = k = v = x
    attn.qkv.params["bias"][...] = 0
    attn.forward(x)
    assert np.array_equal(_split({"x": x, "h": 3}), attn.q)
    assert np.array_equal(_merge({"x": attn.q}), x)


def test_attention_reference_matches_the_numerical_gradient():
    # the attention reference is assembled from softmax/softmax_backward rather than taken from
    # the Attention class, so it gets its own numerical check
    from numpyvit.exercises.backward import _attention_reference
    from numpyvit.exercises.forward import attention
    rng = np.random.default_rng(3)
    inputs = {name: rng.standard_normal((2, 2, 3, 4)) for name in ("q", "k", "v")}
    dout = rng.standard_normal((2, 2, 3, 4))
    for key, analytic in zip(("q", "k", "v"), _attention_reference(inputs, dout)):
        numeric = numerical_gradient(lambda: float(np.sum(attention(inputs) * dout)),
                                     inputs[key]).reshape(analytic.shape)
        assert relative_error(analytic, numeric, 1e-4).max() < 1e-8, key


# --- one planted bug per exercise fails --------------------------------------------------------
def test_linear_db_not_summed_over_batch_and_tokens_fails_naming_the_shape(capsys):
    def linear_backward(x, W, dout):
        dx, dW, _ = S.linear_backward(x, W, dout)
        return dx, dW, dout.sum(axis=0)            # the bug: sums over the batch axis only
    passed, out = run(capsys, "linear_backward", linear_backward)
    assert not passed
    # the 2-D case (B, D_out) passes by luck; the (B, N, D_out) case exposes it
    assert "FAIL linear_backward: db has shape (5, 4), expected (4,), the shape of b" in out, out


def test_linear_dW_transposed_fails_and_says_so(capsys):
    def linear_backward(x, W, dout):
        dx, dW, db = S.linear_backward(x, W, dout)
        return dx, dW.T, db
    passed, out = run(capsys, "linear_backward", linear_backward)
    assert not passed and "dW has shape (3, 2), expected (2, 3), the shape of W (transposed?)" in out, out


def test_softmax_backward_missing_the_subtracted_term_fails(capsys):
    passed, out = run(capsys, "softmax_backward", lambda att, datt: att * datt)
    assert not passed
    assert "FAIL softmax_backward: dscores is wrong\n" in out and "hint for dscores:" in out, out
    assert "diag(a) - a a^T" in out, out


def test_cross_entropy_without_dividing_by_batch_fails_and_names_the_factor(capsys):
    def cross_entropy_backward(logits, labels):
        return S.cross_entropy_backward(logits, labels) * logits.shape[0]   # the bug: no 1/B
    passed, out = run(capsys, "cross_entropy_backward", cross_entropy_backward)
    assert not passed and "FAIL cross_entropy_backward: dlogits is wrong" in out, out
    assert "it is 5 times the right value" in out and "1/B" in out, out       # first case: B = 5


def test_layernorm_missing_the_variance_term_fails_on_dx_only(capsys):
    def layernorm_backward(x, weight, dout, eps):
        _, dweight, dbias = S.layernorm_backward(x, weight, dout, eps)
        rstd = 1 / np.sqrt(x.var(axis=-1, keepdims=True) + eps)
        dxhat = dout * weight
        dx = rstd * (dxhat - dxhat.mean(axis=-1, keepdims=True))           # the bug: 2 of 3 terms
        return dx, dweight, dbias
    passed, out = run(capsys, "layernorm_backward", layernorm_backward)
    assert not passed and "FAIL layernorm_backward: dx is wrong (dweight, dbias are right)" in out, out
    assert "through the variance" in out, out


def test_layernorm_ignoring_eps_fails(capsys):
    def layernorm_backward(x, weight, dout, eps):
        return S.layernorm_backward(x, weight, dout, 0.0)     # the bug: eps left out of rstd
    passed, out = run(capsys, "layernorm_backward", layernorm_backward)
    # caught already at the package's eps = 1e-6, where a row of small variance feels it
    assert not passed and "dx is wrong" in out and "eps sits inside rstd" in out, out


def test_exact_erf_gelu_derivative_fails_against_the_tanh_form(capsys):
    erf = np.vectorize(math.erf)

    def gelu_backward(x, dout):
        # the exact GELU's derivative Phi(x) + x phi(x): within 1e-3 of the tanh form's
        return (0.5 * (1 + erf(x / math.sqrt(2))) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)) * dout
    passed, out = run(capsys, "gelu_backward", gelu_backward)
    assert not passed and "FAIL gelu_backward: dx is wrong" in out and "not the exact erf form" in out, out
    x = np.linspace(-4, 4, 801)      # the near miss really is near: a test that really is tight
    assert np.max(np.abs(gelu_backward(x, 1.0) - S.gelu_backward(x, 1.0))) < 1e-3


def test_attention_missing_the_scale_fails_on_dq_and_dk(capsys):
    def attention_backward(q, k, v, dout):
        dq, dk, dv = S.attention_backward(q, k, v, dout)
        root = math.sqrt(q.shape[-1])
        return dq * root, dk * root, dv            # the bug: backward forgets Dh^-0.5
    passed, out = run(capsys, "attention_backward", attention_backward)
    assert not passed and "FAIL attention_backward: dq and dk are wrong (dv is right)" in out, out
    assert "it is 2 times the right value" in out, out                        # first case: Dh = 4


def test_embed_backward_not_summed_over_the_batch_fails_naming_the_sum(capsys):
    passed, out = run(capsys, "embed_backward", lambda dtokens: (dtokens[:, :1], dtokens.sum(axis=0, keepdims=True)))
    assert not passed
    assert "FAIL embed_backward: dcls_token has shape (3, 1, 5), expected (1, 1, 5), the shape of cls_token" in out, out
    assert "shared by all 3 images of the batch, so its gradient sums over axis 0" in out, out


def test_embed_backward_with_a_mean_instead_of_a_sum_fails_naming_the_factor(capsys):
    def embed_backward(dtokens):
        return dtokens[:, :1].mean(axis=0, keepdims=True), dtokens.mean(axis=0, keepdims=True)
    passed, out = run(capsys, "embed_backward", embed_backward)
    assert not passed and "FAIL embed_backward: dcls_token and dpos_embed are wrong" in out, out
    assert "it is 0.333333 times the right value" in out and "not a mean" in out, out   # first case: B = 3


def test_embed_backward_leaving_out_the_class_tokens_row_fails_naming_it(capsys):
    passed, out = run(capsys, "embed_backward",
                      lambda d: (d[:, :1].sum(axis=0, keepdims=True), d[:, 1:].sum(axis=0, keepdims=True)))
    assert not passed and "dpos_embed has shape (1, 4, 5), expected (1, 5, 5)" in out, out
    assert "one token short: the class token's row" in out, out


# --- forward exercises: each known near miss is named ---------------------------------------------
def grid_of_patches(images, p):
    """The answer key's patches as (B, grid rows, grid columns, C, p, p)."""
    B, C, H, W = images.shape
    return S.patchify(images, p).reshape(B, H // p, W // p, C, p, p)


@pytest.mark.parametrize("name, fn, says", [
    ("column order", lambda im, p: grid_of_patches(im, p).swapaxes(1, 2).reshape(S.patchify(im, p).shape),
     "FAIL patchify: the patches are in column order"),
    ("channels last", lambda im, p: grid_of_patches(im, p).transpose(0, 1, 2, 4, 5, 3).reshape(S.patchify(im, p).shape),
     "FAIL patchify: each patch is flattened with its channels last, (p, p, C)"),
    ("no transpose", lambda im, p: im.reshape(S.patchify(im, p).shape),
     "FAIL patchify: the image was reshaped without a transpose"),
    ("grid not flattened", lambda im, p: grid_of_patches(im, p).reshape(im.shape[0], im.shape[2] // p, im.shape[3] // p, -1),
     "FAIL patchify: returned shape (2, 2, 3, 48), expected (2, 6, 48), that is patches (B, P, C*p*p)"),
])
def test_patchify_near_misses_are_named(name, fn, says, capsys):
    passed, out = run(capsys, "patchify", fn)
    assert not passed and says in out and "hint:" in out, out


def test_patchify_that_changes_values_is_not_called_a_rearrangement(capsys):
    passed, out = run(capsys, "patchify", lambda im, p: S.patchify(im, p) * 1.0000001)
    assert not passed and "numbers that are not in its input" in out, out   # exact: 1e-7 off is caught


def test_heads_interleaved_and_untransposed_splits_are_named(capsys):
    def interleaved(x, h):
        B, N, D = x.shape
        return x.reshape(B, N, D // h, h).transpose(0, 3, 1, 2)       # the bug: (Dh, h), not (h, Dh)
    passed, out = run(capsys, "split_heads", interleaved)
    assert not passed and "FAIL split_heads: the heads are interleaved" in out, out
    passed, out = run(capsys, "split_heads", lambda x, h: x.reshape(x.shape[0], h, x.shape[1], -1))
    assert not passed and "without a transpose" in out, out


def test_split_heads_with_the_last_two_axes_swapped_fails_on_shape(capsys):
    passed, out = run(capsys, "split_heads", lambda x, h: S.split_heads(x, h).swapaxes(-1, -2))
    assert not passed and "returned shape (2, 3, 4, 5), expected (2, 3, 5, 4)" in out, out
    assert "the right axes in the wrong order" in out, out


def test_merge_heads_without_a_transpose_is_named(capsys):
    passed, out = run(capsys, "merge_heads", lambda x: x.reshape(x.shape[0], x.shape[2], -1))
    assert not passed and "FAIL merge_heads: x was reshaped to (B, N, D) without a transpose" in out, out


@pytest.mark.parametrize("scale, says", [
    (lambda Dh: 1.0, "the scores are not scaled"),
    (lambda Dh: 1 / Dh, "the scores are scaled by 1/Dh"),
])
def test_attention_forward_with_a_wrong_scale_is_named(scale, says, capsys):
    def attention_forward(q, k, v):
        return S.softmax_forward(q @ k.swapaxes(-1, -2) * scale(q.shape[-1])) @ v
    passed, out = run(capsys, "attention_forward", attention_forward)
    assert not passed and f"FAIL attention_forward: {says}" in out, out


def test_attention_forward_with_softmax_over_the_queries_is_named(capsys):
    def attention_forward(q, k, v):
        scores = q @ k.swapaxes(-1, -2) / math.sqrt(q.shape[-1])
        return S.softmax_forward(scores.swapaxes(-1, -2)).swapaxes(-1, -2) @ v
    passed, out = run(capsys, "attention_forward", attention_forward)
    assert not passed and "the softmax runs over the queries" in out, out


def test_attention_forward_one_tenth_of_a_percent_off_fails_on_its_tolerance(capsys):
    passed, out = run(capsys, "attention_forward", lambda q, k, v: S.attention_forward(q, k, v) * 1.001)
    assert not passed and "wrong values: worst relative error 5.0e-04" in out and "allowed 1e-10" in out, out


def test_interpolation_with_rows_and_columns_swapped_is_named(capsys):
    def interpolate_pos_embed(pos_embed, new_grid):
        out = S.interpolate_pos_embed(pos_embed, new_grid)
        grid = out[0, 1:].reshape(new_grid, new_grid, -1).swapaxes(0, 1)   # the bug: the grid transposed
        return np.concatenate([out[0, :1], grid.reshape(new_grid ** 2, -1)])[None]
    passed, out = run(capsys, "interpolate_pos_embed", interpolate_pos_embed)
    assert not passed and "FAIL interpolate_pos_embed: the grid's rows and columns are swapped" in out, out


def test_interpolation_aligning_the_corners_is_named(capsys):
    def interpolate_pos_embed(pos_embed, new_grid):
        g, D = int(math.isqrt(pos_embed.shape[1] - 1)), pos_embed.shape[2]
        c = np.arange(new_grid) * (g - 1) / (new_grid - 1)               # the bug: corners pinned
        A = np.maximum(0, 1 - np.abs(c[:, None] - np.arange(g)[None]))   # (G, g) tent weights
        grid = np.einsum("Ji,ijd,Kj->JKd", A, pos_embed[0, 1:].reshape(g, g, D), A)
        return np.concatenate([pos_embed[0, :1], grid.reshape(-1, D)])[None]
    passed, out = run(capsys, "interpolate_pos_embed", interpolate_pos_embed)
    assert not passed and "the corners are aligned instead of the cells' centres" in out, out


def test_interpolation_dropping_the_class_token_fails_naming_the_row(capsys):
    passed, out = run(capsys, "interpolate_pos_embed", lambda pe, G: S.interpolate_pos_embed(pe, G)[:, 1:])
    assert not passed and "returned shape (1, 64, 6), expected (1, 65, 6)" in out, out
    assert "keep the class token's row" in out, out


# --- the capstone -----------------------------------------------------------------------------------
KEY = {name: getattr(S, name) for name in NEEDED}
TINY = ViTConfig(image_size=8, patch_size=4, dim=8, depth=2, heads=2, mlp_dim=16)


def capstone_gradcheck(functions):
    """gradcheck of the capstone's tiny float64 ViT with its loss, on `functions`."""
    model = random_point(your_vit(functions, TINY, dtype=np.float64))
    images = np.random.default_rng(0).standard_normal((3, 1, 8, 8))
    return gradcheck(WithLoss(model, YourCrossEntropy(functions)), images, (np.array([0, 2, 1]),), max_checks=10)


def test_capstone_needs_nothing_more_with_the_answer_key():
    assert missing(vars(S)) == []


def test_capstone_names_the_functions_still_missing():
    def patchify(images, p):
        raise NotImplementedError
    functions = {**KEY, "patchify": patchify, "gelu_backward": lambda x, dout: dout}
    del functions["embed_backward"]
    assert missing(functions) == [("patchify", "not written yet"), ("gelu_backward", "does not pass its check yet"),
                                  ("embed_backward", "not defined")]


def test_capstone_model_starts_from_the_packages_weights_and_computes_the_same_loss():
    images = np.random.default_rng(0).standard_normal((4, 1, 8, 8))
    labels = np.array([0, 1, 2, 3])
    yours, package = your_vit(KEY, TINY, seed=3, dtype=np.float64), VisionTransformer(TINY, seed=3, dtype=np.float64)
    assert all(np.array_equal(a, b) for (_, a, _), (_, b, _) in zip(yours.named_parameters(), package.named_parameters()))
    mine = YourCrossEntropy(KEY).forward(yours.forward(images), labels)
    assert abs(mine - SoftmaxCrossEntropy().forward(package.forward(images), labels)) < 1e-14


def test_capstone_with_the_answer_key_passes_the_whole_model_gradient_check():
    rows = capstone_gradcheck(KEY)
    assert len(rows) == 1 + len(list(VisionTransformer(TINY).named_parameters()))
    assert max_rel_error(rows) < 1e-6


def test_capstone_with_a_wrong_layernorm_backward_fails_the_gradient_check():
    def layernorm_backward(x, weight, dout, eps):
        dx, dweight, dbias = S.layernorm_backward(x, weight, dout, eps)
        rstd = 1 / np.sqrt(x.var(axis=-1, keepdims=True) + eps)
        dxhat = dout * weight
        return rstd * (dxhat - dxhat.mean(axis=-1, keepdims=True)), dweight, dbias   # the bug: no variance term
    rows = {r.name: r for r in capstone_gradcheck({**KEY, "layernorm_backward": layernorm_backward})}
    assert rows["model.head.weight"].max_rel_error < 1e-6          # above the first LayerNorm's input: right
    assert rows["model.blocks.0.attn.qkv.weight"].max_rel_error > 1e-2   # below it: wrong


def test_capstone_refuses_a_function_that_changes_the_dtype():
    model = your_vit({**KEY, "gelu_backward": lambda x, dout: S.gelu_backward(x, dout).astype(np.float64)}, TINY)
    images = np.zeros((2, 1, 8, 8), dtype=np.float32)
    loss = YourCrossEntropy(KEY)
    loss.forward(model.forward(images), np.array([0, 1]))
    with pytest.raises(TypeError, match="your gelu_backward returned float64 for float32 inputs"):
        model.backward(loss.backward())


def test_capstone_trains_like_the_package_within_float32_rounding():
    # 40 AdamW steps on one batch of random digit-sized images (learned by heart), from the
    # same seed: the package's model against the capstone's on the answer key
    from numpyvit import AdamW
    config = ViTConfig(image_size=28, patch_size=7, dim=16, depth=1, heads=2, mlp_dim=32)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, size=8)

    def curve(model, loss):
        opt, losses = AdamW(model, lr=1e-3), []
        for _ in range(40):
            model.zero_grad()
            losses.append(loss.forward(model.forward(x), y))
            model.backward(loss.backward())
            opt.step()
        return np.array(losses)
    package = curve(VisionTransformer(config, seed=0), SoftmaxCrossEntropy())
    yours = curve(your_vit(KEY, config, seed=0), YourCrossEntropy(KEY))
    assert package[-1] < package[0] - 0.1                           # it did train
    assert np.abs(yours - package).max() < 1e-4                     # float32 rounding: 1.2e-7 measured


# --- what the learner's function does wrong is a FAIL, never an exception ------------------------
def test_not_implemented_stub_fails_as_not_implemented_yet(capsys):
    def gelu_backward(x, dout):
        raise NotImplementedError
    passed, out = run(capsys, "gelu_backward", gelu_backward)
    assert not passed, out
    assert "FAIL gelu_backward: not implemented yet. This FAIL is expected until you write" in out, out


def test_a_stub_called_from_inside_is_named(capsys):
    def softmax_backward(att, datt):
        raise NotImplementedError

    def attention_backward(q, k, v, dout):
        return softmax_backward(q, dout)           # relies on exercise 2, not written yet
    passed, out = run(capsys, "attention_backward", attention_backward)
    assert not passed
    assert "not implemented yet: it calls softmax_backward, which raises NotImplementedError" in out, out


def test_a_function_that_raises_fails_with_the_exception_type_and_message(capsys):
    def linear_backward(x, W, dout):
        return dout @ W.T, None, None              # a wrong transpose: matmul raises
    passed, out = run(capsys, "linear_backward", linear_backward)
    assert not passed
    assert "FAIL linear_backward: raised ValueError: matmul" in out, out
    assert "on case 1 of 2: x (4, 3), W (2, 3), dout (4, 2)" in out
    assert "hint:" in out, out


def test_wrong_shape_fails_naming_both_shapes(capsys):
    passed, out = run(capsys, "gelu_backward", lambda x, dout: S.gelu_backward(x, dout).reshape(-1))
    assert not passed and "dx has shape (60,), expected (2, 5, 6), the shape of x" in out, out


@pytest.mark.parametrize("result, says", [
    (lambda dx, dW, db: (dx, dW), "returned 2 items, expected 3 items (dx, dW, db)"),
    (lambda dx, dW, db: dx, "returned one ndarray, expected 3 items (dx, dW, db)"),
    (lambda dx, dW, db: None, "returned None, expected 3 items (dx, dW, db): is a `return` missing?"),
])
def test_wrong_number_of_returned_items_fails(result, says, capsys):
    passed, out = run(capsys, "linear_backward", lambda x, W, dout: result(*S.linear_backward(x, W, dout)))
    assert not passed and says in out, out


def test_a_tuple_where_one_array_is_expected_fails(capsys):
    passed, out = run(capsys, "softmax_backward", lambda att, datt: (S.softmax_backward(att, datt),))
    assert not passed and "returned a tuple of 1 item, expected one array dscores" in out, out


def test_float32_result_fails_naming_the_dtype(capsys):
    passed, out = run(capsys, "gelu_backward", lambda x, dout: S.gelu_backward(x, dout).astype(np.float32))
    assert not passed and "dx has dtype float32, expected float64" in out, out


def test_nan_result_fails(capsys):
    passed, out = run(capsys, "gelu_backward", lambda x, dout: S.gelu_backward(x, dout) * np.nan)
    assert not passed and "NaN or infinite" in out, out


def test_learner_editing_its_inputs_in_place_does_not_spoil_the_check(capsys):
    def softmax_backward(att, datt):
        ds = S.softmax_backward(att, datt)
        att[...] = 0                               # scribbles on its input
        datt[...] = 0
        return ds
    passed, out = run(capsys, "softmax_backward", softmax_backward)
    assert passed, out


def test_something_not_callable_fails(capsys):
    passed, out = run(capsys, "gelu_backward", None)
    assert not passed and "expected a function, got NoneType" in out, out


def test_unknown_exercise_name_is_the_callers_error_and_lists_the_names():
    with pytest.raises(ValueError, match="unknown exercise name='gelu'; expected one of patchify, "):
        check("gelu", S.gelu_backward)


def test_a_flipped_sign_is_named(capsys):
    passed, out = run(capsys, "gelu_backward", lambda x, dout: -S.gelu_backward(x, dout))
    assert not passed and "hint for dx: it has the wrong sign" in out, out
