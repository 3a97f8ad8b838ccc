"""numpyvit's speed, side by side with the same model in PyTorch eager mode.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench.py [--sweep] [--json]

It runs from the source checkout (the package never imports torch, so its benchmark against
torch lives beside it, not inside it). For one config it measures, after warm-up, the median
over --repeats of: training images/s (forward + loss + backward + AdamW step, float32, batch
--batch), inference images/s (batch --infer-batch), the GFLOP/s that makes and its fraction of
the float32 GEMM peak measured in the same run, and the peak resident memory of a real
training run. With torch importable, the identical model (same weights, from numpyvit's
state_dict) is timed the same way, the two interleaved (A B A B ...), and the ratios printed.
torch is optional: without it only numpyvit is timed.

numpyvit runs as the trainer runs it: each batch split across --workers threads (default:
every core; numpyvit.DataParallel). The row `numpyvit-w1` is the model run whole on one
Python thread (its matmuls still use every core through BLAS), to show what the split buys.

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
from dataclasses import replace
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
def numpy_runners(config, batch, infer_batch, seed=0, workers=None):
    """(net, train_step, infer): net a DataParallel splitting each batch across `workers`
    threads (default every core); net.model is the model."""
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
    return net, train_step, infer


def torch_runners(model, batch, infer_batch, seed=0):
    ref = torch_vit_from_numpyvit(model)
    opt = torch.optim.AdamW(ref.parameters(), lr=1e-4)
    c = model.config
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((batch, c.in_channels, c.image_size, c.image_size), generator=g)
    y = torch.randint(0, c.num_classes, (batch,), generator=g)
    xi = torch.randn((infer_batch,) + tuple(x.shape[1:]), generator=g)

    def train_step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(ref(x), y).backward()
        opt.step()

    def infer():
        with torch.no_grad():
            ref(xi)
    return train_step, infer


def rate(fn, items, min_seconds=0.5):
    """Items per second over enough calls to last min_seconds."""
    calls, t0 = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds:
            return calls * items / elapsed


def interleaved(fns, items, repeats, min_seconds):
    """{name: [rate per repeat]} timing the functions in turn (A B A B ...), after a warm-up."""
    for fn in fns.values():
        rate(fn, items, 0.2)
    out = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            out[name].append(rate(fn, items, min_seconds))
    return out


def peak_memory_of_training(timeout=900):
    """Peak resident MiB of a child process running one real training epoch (MNIST if cached,
    else 60,000 synthetic digits) through the trainer, as `python -m numpyvit train` would."""
    code = (
        "import numpy as np, tempfile\n"
        "from numpyvit import TrainConfig, ViTConfig, load_mnist, synthetic_digits, train\n"
        "try:\n    data = load_mnist(download=False, verbose=False)\n"
        "except Exception:\n    x, y = synthetic_digits(70000)\n    data = (x[:60000], y[:60000], x[60000:], y[60000:])\n"
        "train('vit', ViTConfig().to_dict(), TrainConfig(epochs=1), data, tempfile.mkdtemp(), progress=False, log=lambda s: None)\n"
        # the function's own source, so the child need not import this module (and torch with it)
        + inspect.getsource(peak_rss_kib) + "print(peak_rss_kib())\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    if run.returncode:
        return None
    return int(run.stdout.split()[-1]) / 1024


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
def bench(config, batch, infer_batch, repeats, min_seconds, use_torch=True, memory=True, workers=None):
    f = flops(config)
    peak = gemm_peak()
    net, np_train, np_infer = numpy_runners(config, batch, infer_batch, workers=workers)
    model, workers = net.model, net.workers
    train_fns, infer_fns = {"numpyvit": np_train}, {"numpyvit": np_infer}
    if workers > 1:
        _, w1_train, w1_infer = numpy_runners(config, batch, infer_batch, workers=1)
        train_fns["numpyvit-w1"], infer_fns["numpyvit-w1"] = w1_train, w1_infer
    if use_torch and torch is not None:
        t_train, t_infer = torch_runners(model, batch, infer_batch)
        train_fns["pytorch"], infer_fns["pytorch"] = t_train, t_infer
    train_rates = interleaved(train_fns, batch, repeats, min_seconds)
    infer_rates = interleaved(infer_fns, infer_batch, repeats, min_seconds)
    result = {"machine": machine(), "config": config.to_dict(), "batch": batch, "infer_batch": infer_batch,
              "workers": workers, "repeats": repeats, "gemm_peak_gflops": peak, "flops_forward": f["forward"],
              "flops_train_step": f["train_step"], "parameters": model.num_parameters(), "results": {}}
    for name in train_fns:
        tr, inf = float(np.median(train_rates[name])), float(np.median(infer_rates[name]))
        result["results"][name] = {
            "train_img_s": tr, "train_img_s_range": [min(train_rates[name]), max(train_rates[name])],
            "infer_img_s": inf, "infer_img_s_range": [min(infer_rates[name]), max(infer_rates[name])],
            "train_gflops": tr * f["train_step"] / 1e9, "train_peak_fraction": tr * f["train_step"] / 1e9 / peak,
            "infer_gflops": inf * f["forward"] / 1e9}
    if "pytorch" in train_fns:     # per repeat: each pair was timed back to back
        for name, key in (("numpyvit", "ratio"), ("numpyvit-w1", "ratio_w1")):
            if name not in train_fns:
                continue
            ratios_t = np.array(train_rates[name]) / np.array(train_rates["pytorch"])
            ratios_i = np.array(infer_rates[name]) / np.array(infer_rates["pytorch"])
            result[key] = {"train": float(np.median(ratios_t)), "train_range": [float(ratios_t.min()), float(ratios_t.max())],
                           "infer": float(np.median(ratios_i)), "infer_range": [float(ratios_i.min()), float(ratios_i.max())]}
    if memory:
        result["train_peak_rss_mib"] = peak_memory_of_training()
    return result


def print_report(r):
    m = r["machine"]
    print(f"machine: {m['cpu']} ({m['simd']}), {m['cores']} cores; numpy {m['numpy']} [{m['numpy_blas']}]"
          + (f"; torch {m['torch']} ({m['torch_threads']} threads)" if m["torch"] else "; torch not installed"))
    if m["OPENBLAS_CORETYPE"]:
        print(f"warning: OPENBLAS_CORETYPE={m['OPENBLAS_CORETYPE']} is set: NumPy runs a pinned BLAS kernel "
              f"(unset it for a laptop-like figure)")
    c = r["config"]
    print(f"model: patch {c['patch_size']}, dim {c['dim']}, depth {c['depth']}, heads {c['heads']}, mlp {c['mlp_dim']}; "
          f"{r['parameters']:,} parameters; {r['flops_forward'] / 1e6:.2f} MFLOP forward, "
          f"{r['flops_train_step'] / 1e6:.2f} MFLOP per training image")
    print(f"float32 GEMM peak (NumPy, 1024^3): {r['gemm_peak_gflops']:.0f} GFLOP/s; numpyvit splits each "
          f"batch across {r['workers']} worker thread(s)")
    print(f"\n{'':<12} {'train img/s':>12} {'(range)':>15} {'GFLOP/s':>8} {'of peak':>8} "
          f"{'infer img/s':>12} {'(range)':>15}")
    for name, v in r["results"].items():
        print(f"{name:<12} {v['train_img_s']:>12.0f} {'%.0f-%.0f' % tuple(v['train_img_s_range']):>15} "
              f"{v['train_gflops']:>8.1f} {v['train_peak_fraction']:>8.1%} {v['infer_img_s']:>12.0f} "
              f"{'%.0f-%.0f' % tuple(v['infer_img_s_range']):>15}")
    print()
    for key, name in (("ratio", "numpyvit"), ("ratio_w1", "numpyvit-w1")):
        if key in r:
            q = r[key]
            print(f"{name + ' / pytorch:':<24} training {q['train']:.2f}x ({q['train_range'][0]:.2f}-{q['train_range'][1]:.2f}), "
                  f"inference {q['infer']:.2f}x ({q['infer_range'][0]:.2f}-{q['infer_range'][1]:.2f}); "
                  f"median of {r['repeats']} interleaved repeats")
    if r.get("train_peak_rss_mib"):
        print(f"peak resident memory of a training epoch: {r['train_peak_rss_mib']:.0f} MiB")


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
        net, np_train, _ = numpy_runners(cfg, batch, 8, workers=workers)
        fns = {"numpyvit": np_train}
        if use_torch and torch is not None:
            fns["pytorch"] = torch_runners(net.model, batch, 8)[0]
        rates = interleaved(fns, batch, repeats, min_seconds)
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
                    help="threads numpyvit splits each batch across (default: every available core)")
    ap.add_argument("--no-torch", action="store_true", help="time numpyvit alone")
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
                   use_torch=not args.no_torch, memory=not args.no_memory, workers=args.workers)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
