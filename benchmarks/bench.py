"""numpyvit's speed, side by side with what a user would pick instead.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench.py [--sweep] [--json]

It runs from the source checkout (the package never imports torch, so its benchmark against
torch lives beside it, not inside it). For one config it measures, after warm-up, the median
over --repeats of: training images/s (forward + loss + backward + AdamW step, float32, batch
--batch), inference images/s (batch --infer-batch), the GFLOP/s that makes and its fraction of
the float32 GEMM peak measured in the same run, and the peak memory of a real training run
(all its processes together). Every row is timed in turn (A B C A B C ...), so all see the
same machine state, and the ratios are taken per repeat.

The rows, those whose library is missing left out with a line saying why:
    numpyvit-processes  as the command line runs the trainer: each batch split across
                        --workers worker processes (DataParallel; default: every core)
    numpyvit-w1         the model run whole on one Python thread (its matmuls still use
                        every core through BLAS): what the split buys
    numpyvit-1core      the model run whole with BLAS on one thread: one core
    pytorch             the identical model (same weights) in plain PyTorch, eager
    pytorch-1core       the same, torch held to one thread
    pytorch-compile     the same under torch.compile (--no-compile to skip its warm-up)
    timm, timm-compile  timm's VisionTransformer with the same config and weights, eager and
                        compiled (needs timm, which needs torchvision)
The ratios compare numpyvit as the trainer runs it (numpyvit-processes) with each anchor,
and numpyvit-1core with pytorch-1core. torch and timm are optional.

Unset OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE for the run, as on a user's laptop: these machines
set them for safety, which pins NumPy's OpenBLAS to an older, slower kernel on AVX-512 CPUs.
"""
import argparse
import inspect
import json
import os
import platform
import subprocess
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # tests.torch_reference, from anywhere

from numpyvit import AdamW, DataParallel, SoftmaxCrossEntropy, ViTConfig, VisionTransformer  # noqa: E402
from numpyvit.cli import add_config_flags, config_from_args, positive_int  # noqa: E402
from numpyvit.models.flops import flops  # noqa: E402

try:
    import torch
    from tests.torch_reference import torch_vit_from_numpyvit
except ImportError:
    torch = None
from benchmarks.peak_memory import peak_tree_pss  # noqa: E402


# --- the machine ---------------------------------------------------------------------------
def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_features():
    try:
        flags = next(l for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("flags")).split()
        return "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    except (OSError, StopIteration):
        return "?"


def blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    libs = [f"{i.get('internal_api')} {i.get('version')} kernel={i.get('architecture')} threads={i.get('num_threads')}"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(libs) or "no BLAS found"


def machine():
    return {"cpu": cpu_name(), "simd": cpu_features(), "cores": os.cpu_count(), "numpy": np.__version__,
            "numpy_blas": blas_info(), "torch": torch.__version__ if torch else None,
            "torch_threads": torch.get_num_threads() if torch else None,
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"), "date": time.strftime("%Y-%m-%d")}


def gemm_peak(n=1024, repeats=20):
    """float32 GFLOP/s of one large NumPy matmul (the best of `repeats`): the CPU's practical peak."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    b = a.T.copy()
    a @ b
    best = min(_time(lambda: a @ b) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def _time(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# --- what is timed -------------------------------------------------------------------------
@dataclass
class Runner:
    """One row: a training step and an inference call, timed inside `context()` (which holds
    the row to one core where it should)."""
    train: object
    infer: object
    context: object = nullcontext


def numpy_runners(config, batch, infer_batch, seed=0, workers=None):
    """(net, Runner): net a DataParallel splitting each batch across `workers` (default every
    core); net.model is the model."""
    model = VisionTransformer(config, seed=seed)
    net = DataParallel(model, workers)
    loss_fn, opt = SoftmaxCrossEntropy(), AdamW(model, lr=1e-4)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, config.in_channels, config.image_size, config.image_size)).astype(np.float32)
    y = rng.integers(0, config.num_classes, batch)
    xi = rng.standard_normal((infer_batch,) + x.shape[1:]).astype(np.float32)

    def train_step():
        loss_fn.forward(net.forward(x), y)
        opt.zero_grad()
        net.backward(loss_fn.backward())
        opt.step()

    def infer():
        net.eval()
        net.forward(xi)
        net.train()
    return net, Runner(train_step, infer)


@contextmanager
def blas_on_one_thread():
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@contextmanager
def torch_on_one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def torch_runner(ref, config, batch, infer_batch, seed=0, compile=False):
    """A Runner for a torch module `ref` (the plain reference or timm's), eager or compiled.
    Compiling happens at the first call, inside the warm-up."""
    run = torch.compile(ref, dynamic=False) if compile else ref
    opt = torch.optim.AdamW(ref.parameters(), lr=1e-4)
    c = config
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((batch, c.in_channels, c.image_size, c.image_size), generator=g)
    y = torch.randint(0, c.num_classes, (batch,), generator=g)
    xi = torch.randn((infer_batch,) + tuple(x.shape[1:]), generator=g)

    def train_step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(run(x), y).backward()
        opt.step()

    def infer():
        with torch.no_grad():
            run(xi)
    return Runner(train_step, infer)


def timm_vit_from_numpyvit(model):
    """timm's VisionTransformer with numpyvit's config and weights (the names are timm's, so
    the state_dict loads as it is). Raises ImportError when timm cannot be imported."""
    from functools import partial

    from timm.models.vision_transformer import VisionTransformer as TimmViT
    c = model.config
    if c.pos_embed != "learned":
        raise ImportError("timm's ViT has no fixed sin-cos position embedding to compare with")
    ref = TimmViT(img_size=c.image_size, patch_size=c.patch_size, in_chans=c.in_channels,
                  num_classes=c.num_classes, embed_dim=c.dim, depth=c.depth, num_heads=c.heads,
                  mlp_ratio=c.mlp_dim / c.dim, qkv_bias=True, class_token=True,
                  global_pool="token" if c.pool == "cls" else "avg",
                  norm_layer=partial(torch.nn.LayerNorm, eps=c.norm_eps),
                  act_layer=partial(torch.nn.GELU, approximate="tanh"))     # numpyvit's GELU
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    return ref


def rate(fn, items, min_seconds=0.5):
    """Items per second over enough calls to last min_seconds."""
    calls, t0 = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds:
            return calls * items / elapsed


def interleaved(fns, items, repeats, min_seconds, contexts=None):
    """{name: [rate per repeat]} timing the functions in turn (A B A B ...), after a warm-up;
    contexts[name]() is entered around each of that function's timings."""
    contexts = contexts or {}
    for name, fn in fns.items():
        with contexts.get(name, nullcontext)():
            rate(fn, items, 0.2)
    out = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            with contexts.get(name, nullcontext)():
                out[name].append(rate(fn, items, min_seconds))
    return out


def peak_memory_of_training(timeout=900):
    """Peak MiB of a child process running one real training epoch (MNIST if cached, else
    60,000 synthetic digits) through the trainer, as `python -m numpyvit train` would:
    {"all_processes": the peak summed PSS of the child and its workers (shared pages once;
    benchmarks/peak_memory.py), "trainer": the child's own peak resident size}."""
    code = (
        "import numpy as np, tempfile\n"
        "from numpyvit import TrainConfig, ViTConfig, load_mnist, synthetic_digits, train\n"
        "try:\n    data = load_mnist(download=False, verbose=False)\n"
        "except Exception:\n    x, y = synthetic_digits(70000)\n    data = (x[:60000], y[:60000], x[60000:], y[60000:])\n"
        "from numpyvit import DataParallel, VisionTransformer\n"
        "with DataParallel(VisionTransformer(ViTConfig())) as net:\n"
        "    train(net, TrainConfig(epochs=1), data, tempfile.mkdtemp(), progress=False, log=lambda s: None)\n"
        # the function's own source, so the child need not import this module (and torch with it)
        + inspect.getsource(peak_rss_kib) + "print(peak_rss_kib())\n")
    if sys.platform.startswith("linux"):
        code_, out, _, tree_peak, _ = peak_tree_pss([sys.executable, "-c", code], timeout=timeout,
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    else:
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
        code_, out, tree_peak = run.returncode, run.stdout, None
    if code_:
        return None
    return {"all_processes": tree_peak, "trainer": int(out.split()[-1]) / 1024}


def peak_rss_kib():
    """This process's peak resident memory in KiB. On Linux from VmHWM, which starts afresh at
    exec: ru_maxrss survives exec, so a child started from a big parent (this benchmark, with
    torch loaded) would report the parent's size."""
    from pathlib import Path
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    import resource
    import sys
    ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return ru // 1024 if sys.platform == "darwin" else ru      # bytes on macOS, KiB elsewhere


# --- the benchmark -------------------------------------------------------------------------
ANCHORS = ("pytorch", "pytorch-compile", "timm", "timm-compile")     # what numpyvit is compared with


def anchor_rows(model, config, batch, infer_batch, compile, use_timm, skipped):
    """{name: Runner} for the torch rows that can run here; why the others cannot, in skipped."""
    rows = {"pytorch": torch_runner(torch_vit_from_numpyvit(model), config, batch, infer_batch),
            "pytorch-1core": replace(torch_runner(torch_vit_from_numpyvit(model), config, batch, infer_batch),
                                     context=torch_on_one_thread)}
    builders = {"pytorch": lambda: torch_vit_from_numpyvit(model)}
    if use_timm:
        try:
            timm_vit_from_numpyvit(model)
            builders["timm"] = lambda: timm_vit_from_numpyvit(model)
            rows["timm"] = torch_runner(builders["timm"](), config, batch, infer_batch)
        except Exception as e:          # timm missing, or importable only with torchvision
            skipped["timm"] = f"{type(e).__name__}: {e}"
    if compile:
        for name, build in builders.items():
            runner = torch_runner(build(), config, batch, infer_batch, compile=True)
            try:
                runner.train()           # compiles (tens of seconds): the warm-up, and a check
                runner.infer()
                rows[f"{name}-compile"] = runner
            except Exception as e:       # no C compiler, an unsupported platform...
                skipped[f"{name}-compile"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
    return rows


def ratio(a, b):
    """Median and range of the per-repeat ratios a/b (each pair timed back to back)."""
    q = np.array(a) / np.array(b)
    return {"median": float(np.median(q)), "range": [float(q.min()), float(q.max())]}


def bench(config, batch, infer_batch, repeats, min_seconds, use_torch=True, memory=True, workers=None,
          compile=True, use_timm=True):
    f = flops(config)
    peak = gemm_peak()
    with blas_on_one_thread():           # steadier than the all-core peak on a shared machine
        peak_one = gemm_peak()
    rows, nets, skipped = {}, [], {}
    net, rows["numpyvit-processes"] = numpy_runners(config, batch, infer_batch, workers=workers)
    nets.append(net)
    model, workers = net.model, net.workers
    if workers > 1:
        net, rows["numpyvit-w1"] = numpy_runners(config, batch, infer_batch, workers=1)
        nets.append(net)
    net, one = numpy_runners(config, batch, infer_batch, workers=1)
    rows["numpyvit-1core"] = replace(one, context=blas_on_one_thread)
    nets.append(net)
    if use_torch and torch is None:
        skipped["pytorch"] = "torch is not installed"
    elif use_torch:
        rows.update(anchor_rows(model, config, batch, infer_batch, compile, use_timm, skipped))
    contexts = {name: r.context for name, r in rows.items()}
    train_rates = interleaved({n: r.train for n, r in rows.items()}, batch, repeats, min_seconds, contexts)
    infer_rates = interleaved({n: r.infer for n, r in rows.items()}, infer_batch, repeats, min_seconds, contexts)
    for net in nets:
        net.close()
    result = {"machine": machine(), "config": config.to_dict(), "batch": batch, "infer_batch": infer_batch,
              "workers": workers, "repeats": repeats,
              "gemm_peak_gflops": peak, "gemm_peak_1thread_gflops": peak_one, "flops_forward": f["forward"], "flops_train_step": f["train_step"],
              "parameters": model.num_parameters(), "results": {}, "ratios": {}, "skipped": skipped}
    for name in rows:
        tr, inf = float(np.median(train_rates[name])), float(np.median(infer_rates[name]))
        result["results"][name] = {
            "train_img_s": tr, "train_img_s_range": [min(train_rates[name]), max(train_rates[name])],
            "infer_img_s": inf, "infer_img_s_range": [min(infer_rates[name]), max(infer_rates[name])],
            "train_gflops": tr * f["train_step"] / 1e9, "train_peak_fraction": tr * f["train_step"] / 1e9 / peak,
            "infer_gflops": inf * f["forward"] / 1e9}
    pairs = [("numpyvit-processes", a) for a in ANCHORS] + [("numpyvit-1core", "pytorch-1core")]
    for a, b in pairs:
        if a in rows and b in rows:
            result["ratios"][f"{a} / {b}"] = {"train": ratio(train_rates[a], train_rates[b]),
                                              "infer": ratio(infer_rates[a], infer_rates[b])}
    if memory:
        result["train_peak_mib"] = peak_memory_of_training()
    return result


def print_report(r):
    m = r["machine"]
    print(f"machine: {m['cpu']} ({m['simd']}), {m['cores']} cores; numpy {m['numpy']} [{m['numpy_blas']}]"
          + (f"; torch {m['torch']} ({m['torch_threads']} threads)" if m["torch"] else "; torch not installed")
          + f"; {m['date']}")
    if m["OPENBLAS_CORETYPE"]:
        print(f"warning: OPENBLAS_CORETYPE={m['OPENBLAS_CORETYPE']} is set: NumPy runs a pinned BLAS kernel "
              f"(unset it for a laptop-like figure)")
    c = r["config"]
    print(f"model: patch {c['patch_size']}, dim {c['dim']}, depth {c['depth']}, heads {c['heads']}, mlp {c['mlp_dim']}; "
          f"{r['parameters']:,} parameters; {r['flops_forward'] / 1e6:.2f} MFLOP forward, "
          f"{r['flops_train_step'] / 1e6:.2f} MFLOP per training image")
    print(f"float32 GEMM peak (NumPy, 1024^3): {r['gemm_peak_gflops']:.0f} GFLOP/s, one thread "
          f"{r['gemm_peak_1thread_gflops']:.0f}; numpyvit splits each batch across {r['workers']} worker processes")
    for name, why in r["skipped"].items():
        print(f"not timed: {name} ({why})")
    print(f"\n{'':<19} {'train img/s':>12} {'(range)':>13} {'GFLOP/s':>8} {'of peak':>8} "
          f"{'infer img/s':>12} {'(range)':>13}")
    for name, v in r["results"].items():
        print(f"{name:<19} {v['train_img_s']:>12.0f} {'%.0f-%.0f' % tuple(v['train_img_s_range']):>13} "
              f"{v['train_gflops']:>8.1f} {v['train_peak_fraction']:>8.1%} {v['infer_img_s']:>12.0f} "
              f"{'%.0f-%.0f' % tuple(v['infer_img_s_range']):>13}")
    print(f"\nratios, median (range) of {r['repeats']} interleaved repeats:")
    for pair, q in r["ratios"].items():
        t, i = q["train"], q["infer"]
        print(f"  {pair:<38} training {t['median']:.2f}x ({t['range'][0]:.2f}-{t['range'][1]:.2f})   "
              f"inference {i['median']:.2f}x ({i['range'][0]:.2f}-{i['range'][1]:.2f})")
    mem = r.get("train_peak_mib")
    if mem:
        all_processes = f"{mem['all_processes']:.0f} MiB" if mem["all_processes"] else "not measured here"
        print(f"peak memory of a training epoch: all processes together (PSS) {all_processes}; "
              f"the trainer's process alone {mem['trainer']:.0f} MiB")


# --- the sweep -----------------------------------------------------------------------------
def sweep(config, repeats, min_seconds, use_torch, out_png, workers=None):
    """Training images/s against batch size, and against the token count (patch 14, 7, 4)."""
    rows = []
    for batch in (32, 64, 128, 256, 512):
        rows.append(("batch", batch, config, batch))
    for patch in (14, 7, 4):
        rows.append(("patch", patch, replace(config, patch_size=patch), 128))
    table = []
    for kind, value, cfg, batch in rows:
        net, runner = numpy_runners(cfg, batch, 8, workers=workers)
        fns = {"numpyvit": runner.train}
        if use_torch and torch is not None:
            fns["pytorch"] = torch_runner(torch_vit_from_numpyvit(net.model), cfg, batch, 8).train
        rates = interleaved(fns, batch, repeats, min_seconds)
        net.close()
        f = flops(cfg)
        for name, rs in rates.items():
            med = float(np.median(rs))
            table.append({"sweep": kind, "value": value, "tokens": cfg.num_patches, "batch": batch,
                          "impl": name, "train_img_s": med, "train_gflops": med * f["train_step"] / 1e9})
            print(f"{kind}={value:<4} tokens={cfg.num_patches:<3} batch={batch:<4} {name:<9} "
                  f"{med:>7.0f} img/s  {med * f['train_step'] / 1e9:>6.1f} GFLOP/s", flush=True)
    if out_png:
        from numpyvit.insight.plots import plot_sweep
        plot_sweep(table).savefig(out_png, dpi=120)
        print(f"wrote {out_png}")
    return table


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python benchmarks/bench.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=positive_int, default=128, help="training batch (default 128)")
    ap.add_argument("--infer-batch", type=positive_int, default=512, help="inference batch (default 512)")
    ap.add_argument("--repeats", type=positive_int, default=5,
                    help="interleaved repeats; the median is reported (default 5)")
    ap.add_argument("--seconds", type=float, default=1.0, help="minimum seconds per timed block (default 1)")
    ap.add_argument("--workers", type=positive_int, default=None,
                    help="workers numpyvit splits each batch across (default: every available core)")
    ap.add_argument("--no-torch", action="store_true", help="time numpyvit alone")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows (tens of seconds to compile)")
    ap.add_argument("--no-timm", action="store_true", help="skip timm's VisionTransformer")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory training epoch")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--sweep", action="store_true", help="images/s against batch size and token count")
    ap.add_argument("--plot", default="sweep.png", help="where --sweep writes its plot (default sweep.png)")
    add_config_flags(ap, ViTConfig, "model (ViTConfig)")
    args = ap.parse_args(argv)
    config = ViTConfig(**config_from_args(ViTConfig, args))
    if args.sweep:
        table = sweep(config, args.repeats, args.seconds, not args.no_torch, args.plot, args.workers)
        if args.json:
            print(json.dumps({"machine": machine(), "sweep": table}, indent=2))
        return 0
    result = bench(config, args.batch, args.infer_batch, args.repeats, args.seconds,
                   use_torch=not args.no_torch, memory=not args.no_memory, workers=args.workers,
                   compile=not args.no_compile, use_timm=not args.no_timm)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
