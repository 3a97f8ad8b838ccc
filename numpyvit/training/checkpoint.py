"""Checkpoints: one .npz file that opens with plain `np.load(path)`, no pickle.

Keys:
  <state_dict name>      every model tensor under its timm name ('blocks.0.attn.qkv.weight')
  optim.<slot>.<name>    optimiser state (AdamW's m and v), optim.steps
  average.<name>         the weight average, when the run keeps one (TrainConfig.ema),
                         and average.updates
  meta.format            'numpyvit-checkpoint-1'
  meta.model             'vit' or 'resnet'
  meta.config            the model config as a JSON string
  meta.train             the training config, epoch, step, RNG states and metrics, as JSON
Files are written to a temporary file beside the target and renamed into place, so a crash
mid-write never destroys the previous checkpoint.
"""
import json
from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..files import write_atomic
from ..models.registry import build_model, model_kind

FORMAT = "numpyvit-checkpoint-1"


class CheckpointError(UsageError, ValueError):
    """A file that is missing, unreadable or not a numpyvit checkpoint."""


def save_checkpoint(path, model, optimizer=None, train_state=None, average=None):
    """Write model (+ optimiser, + JSON-able training state, + a WeightAverage) to `path`
    atomically."""
    path = Path(path)
    arrays = dict(model.state_dict())
    if optimizer is not None:
        arrays.update((f"optim.{k}", v) for k, v in optimizer.state_dict().items())
    if average is not None:
        arrays.update((f"average.{k}", v) for k, v in average.state_dict().items())
    arrays["meta.format"] = np.array(FORMAT)
    arrays["meta.model"] = np.array(model_kind(model))
    arrays["meta.config"] = np.array(json.dumps(model.config.to_dict()))
    arrays["meta.train"] = np.array(json.dumps(train_state or {}))
    # a checkpoint is an ordinary file (0666 before the umask), replaced whole or not at all
    return write_atomic(path, lambda f: np.savez(f, **arrays), mode=0o666)


def load_checkpoint(path):
    """Read a checkpoint: returns a dict with 'model' (kind), 'config' (dict), 'state'
    (model tensors), 'optim' (optimiser state), 'average' (the weight average's state, {} if
    the run kept none) and 'train' (dict)."""
    path = Path(path)
    if path.is_dir():
        path = path / "last.npz"
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {key: npz[key] for key in npz.files}
    except ValueError as e:   # raised for arrays that need pickle
        raise CheckpointError(f"{path} is not a numpyvit checkpoint: it holds pickled objects, "
                              f"which are refused for safety ({e})") from None
    except Exception as e:
        raise CheckpointError(f"{path} is not a numpyvit checkpoint (not a readable .npz: {e})") from None
    if str(data.get("meta.format", "")) != FORMAT:
        raise CheckpointError(f"{path} is not a numpyvit checkpoint (no meta.format='{FORMAT}')")
    return {
        "path": path,
        "model": str(data["meta.model"]),
        "config": json.loads(str(data["meta.config"])),
        "train": json.loads(str(data["meta.train"])),
        "state": {k: v for k, v in data.items() if not k.startswith(("meta.", "optim.", "average."))},
        "optim": {k[len("optim."):]: v for k, v in data.items() if k.startswith("optim.")},
        "average": {k[len("average."):]: v for k, v in data.items() if k.startswith("average.")},
    }


def trained_on(checkpoint):
    """The dataset name a checkpoint's model was trained on, from its stored TrainConfig
    (checkpoints from before datasets were recorded hold MNIST models). `checkpoint`: the dict
    load_checkpoint returns, or a path."""
    if not isinstance(checkpoint, dict):
        checkpoint = load_checkpoint(checkpoint)
    return checkpoint["train"].get("train_config", {}).get("dataset", "mnist")


def load_model(checkpoint, dtype=np.float32, averaged=True):
    """The trained model stored in a checkpoint (or a run folder's last.npz), in eval mode.
    `checkpoint`: a path, or the dict load_checkpoint returns (so a caller that also reads
    the run's metadata reads the file once).

    A run that kept a weight average (TrainConfig.ema) reports the average's accuracy, so
    that is the model returned; averaged=False gives the optimiser's own last weights.
    """
    ckpt = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
    try:
        model = build_model(ckpt["model"], ckpt["config"], dtype=dtype)
        state = dict(ckpt["state"])
        if averaged and ckpt["average"]:     # the averaged parameters over the trained ones
            state.update((k, v) for k, v in ckpt["average"].items() if k != "updates")
        model.load_state_dict(state)
    except (KeyError, ValueError) as e:     # an unknown kind, a config or weights that do not fit
        raise CheckpointError(f"{ckpt['path']}: its model cannot be rebuilt from the stored kind, "
                              f"config and weights: {e}") from None
    return model.eval()
