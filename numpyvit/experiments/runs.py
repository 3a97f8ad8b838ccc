"""One training run of an experiment: trained once, resumed if interrupted, read back when done.

Every run is an ordinary run folder (see training/trainer.py), so an experiment stopped at any
point continues where it stopped, and a finished run is read back rather than trained again.
A folder that holds a run with another config is an error, never silently overwritten.

    with make_net(model) as net:                                   # the caller's cores
        state = run_or_resume(net, cfg, data, run_dir)             # from the folder, if any
        state = run_or_resume(net, longer_cfg, data, run_dir, state=state)   # on, in memory
"""
import json
import time

from ..errors import ConfigError
from ..models.registry import model_kind
from ..training.checkpoint import load_checkpoint
from ..training.trainer import schedule, train


def whole_model(model):
    """The default `make_net`: the model run as it is, on one process (its matmuls still
    use every core through BLAS). A context manager, like a DataParallel."""
    from contextlib import nullcontext
    return nullcontext(model)


def total_steps(cfg, n_train):
    """The optimisation steps a TrainConfig asks for on n_train images."""
    return schedule(cfg.train_subset or n_train, cfg)[1]


def run_or_resume(net, cfg, data, run_dir, state=None, progress=True, log=print, same_config=None, start=None):
    """Bring one run of `net` to the end of `cfg`; returns its RunState.

    The first call (state=None) picks the run up from its folder: a finished run is read back,
    an interrupted one resumed, an empty folder started. Later calls pass the state the last
    one returned and continue in memory. same_config(stored, wanted) decides whether a
    folder's stored TrainConfig dict is the run asked for (default: equal dicts); the
    data-scale experiment relaxes it to let a run be continued for more epochs. start: a
    checkpoint dict (load_checkpoint's) the run begins from when its folder holds none yet, as
    a cool-down begins from another run's best block.
    """
    model = getattr(net, "model", net)
    resume = None
    if state is None and (run_dir / "last.npz").exists():
        resume = load_checkpoint(run_dir)
        stored = resume["train"].get("train_config")
        if stored is not None:     # a run stored before a field was added has that field's default
            stored = type(cfg).from_dict(stored).to_dict()
        ok = (same_config or (lambda a, b: a == b))(stored, cfg.to_dict())
        # the stored config as this version reads it (a field added since has its default)
        same_model = (resume["model"] == model_kind(model)
                      and type(model.config).from_dict(resume["config"]).to_dict() == model.config.to_dict())
        if not ok or not same_model:
            raise ConfigError(f"{run_dir} holds a run with another config; move it away or use another --out")
    elif state is None and start is not None:
        resume = start
    before = len(state.metrics) if state else len(resume["train"]["metrics"]) if resume else 0
    t0 = time.perf_counter()
    state = train(net, cfg, data, run_dir, resume=resume, state=state, progress=progress, log=lambda s: None)
    done = "done before" if len(state.metrics) == before else f"{time.perf_counter() - t0:.0f} s this call"
    log(f"{run_dir.name}: {cfg.epochs} epochs, {total_steps(cfg, len(data[0]))} steps -> test accuracy "
        f"{state.metrics[-1]['test_acc']:.4f} ({done})")
    return state


def parameters(run_dir):
    """The parameter count train() wrote into the run's config.json."""
    return json.loads((run_dir / "config.json").read_text())["parameters"]
