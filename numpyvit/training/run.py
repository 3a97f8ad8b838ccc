"""What a training run carries from step to step, and how it survives an interruption.

    RunState     the optimiser, the weight average, the dynamics recorder, where the run is
                 (epoch, step) and what it has measured: everything a checkpoint holds
                 beyond the weights. train() continues whatever state it is given, so an
                 experiment can lengthen a run in memory, and a checkpoint restores one.
    EpochStats   the running training loss, accuracy and time of the epoch under way.
    Progress     the progress display of one epoch, fitted to where the output goes.
    StopRequest  turns Ctrl-C into "stop after this step".
"""
import signal
import sys
from dataclasses import asdict, dataclass, field
from typing import Optional

from .checkpoint import save_checkpoint
from .dynamics import TrainingDynamics
from .optim import AdamW, WeightAverage

PROBE_IMAGES = 128   # test images whose attention entropy dynamics.jsonl follows


@dataclass
class EpochStats:
    """Sums over the steps of the epoch under way (plain numbers: a checkpoint stores them)."""
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    train_s: float = 0.0

    def add(self, loss, correct, images, seconds):
        self.loss_sum += loss * images
        self.correct += correct
        self.seen += images
        self.train_s += seconds

    @property
    def loss(self):
        return self.loss_sum / self.seen

    @property
    def acc(self):
        return self.correct / self.seen

    @property
    def img_per_s(self):
        return self.seen / max(self.train_s, 1e-9)

    def shown(self):
        """What the progress bar shows."""
        return {"loss": f"{self.loss:.4f}", "acc": f"{self.acc:.4f}", "img/s": f"{self.img_per_s:.0f}"}


@dataclass
class RunState:
    optimizer: AdamW
    average: Optional[WeightAverage]        # None without TrainConfig.ema
    dynamics: Optional[TrainingDynamics]    # None with dynamics_steps=0
    epoch: int = 0                          # epochs finished
    step_in_epoch: int = 0                  # steps of the epoch under way already taken
    metrics: list = field(default_factory=list)    # one row per finished epoch (metrics.jsonl)
    elapsed_s: float = 0.0                  # training time before this call
    stats: EpochStats = field(default_factory=EpochStats)

    @classmethod
    def start(cls, model, cfg, probe_images, steps_per_epoch):
        """A fresh run's state: AdamW, the weight average and the dynamics recorder as `cfg` asks."""
        dynamics = None
        if cfg.dynamics_steps:
            every = max(1, steps_per_epoch // cfg.dynamics_steps)
            dynamics = TrainingDynamics(model, probe_images[:PROBE_IMAGES], every)
        return cls(optimizer=AdamW(model, lr=cfg.lr, weight_decay=cfg.weight_decay),
                   average=WeightAverage(model, cfg.ema) if cfg.ema else None, dynamics=dynamics)

    def restore(self, model, checkpoint):
        """Continue the run a checkpoint (load_checkpoint's dict) stopped: weights, optimiser,
        average, position, metrics and dynamics."""
        model.load_state_dict(checkpoint["state"])
        self.optimizer.load_state_dict(checkpoint["optim"])
        if self.average is not None:
            self.average.load_state_dict(checkpoint["average"])
        t = checkpoint["train"]
        self.epoch, self.step_in_epoch, self.metrics = t["epoch"], t["step_in_epoch"], t["metrics"]
        self.elapsed_s = t.get("elapsed_s", 0.0)
        self.stats = EpochStats(**t["partial"]) if t.get("partial") else EpochStats()
        if self.dynamics is not None and t.get("dynamics"):
            self.dynamics.load_state_dict(t["dynamics"])

    def save(self, path, model, cfg, workers):
        """Write the checkpoint of this state (atomically)."""
        train_state = {"epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "metrics": self.metrics,
                       "elapsed_s": self.elapsed_s, "partial": asdict(self.stats), "workers": workers,
                       "train_config": cfg.to_dict(),
                       "dynamics": self.dynamics.state_dict() if self.dynamics is not None else None}
        return save_checkpoint(path, model, self.optimizer, train_state, self.average)


class StopRequest:
    """Turns the first Ctrl-C into a request to stop after the current step, so the checkpoint
    never catches an optimiser step half done; a second Ctrl-C interrupts at once."""

    def __init__(self):
        self.requested = False
        self.previous = None

    def __enter__(self):
        try:
            self.previous = signal.signal(signal.SIGINT, self.handle)
        except ValueError:        # not the main thread: Ctrl-C keeps its default behaviour
            self.previous = None
        return self

    def handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


class Progress:
    """Progress through one epoch's steps, fitted to where the output goes.

    On a terminal, a live bar (tqdm) with the running loss, accuracy and speed. Anywhere else
    (a log file, CI, a notebook's subprocess) a bar's carriage-return redraws would each become
    a line of their own, hundreds per epoch, so it prints one plain line at each quarter of the
    epoch instead; the epoch's summary line is the trainer's log. `enabled=False` shows nothing.
    """

    def __init__(self, total, desc, first=0, stream=None, enabled=True):
        self.total, self.desc, self.enabled = total, desc, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.bar = None
        if enabled and self.stream.isatty():
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total, initial=first, desc=desc, unit="step", leave=False,
                                dynamic_ncols=True, file=self.stream)
            except ImportError:       # no tqdm: plain lines on the terminal too
                pass
        self.marks = {total * k // 4 for k in (1, 2, 3)} - {0}

    def update(self, done, stats):
        """`done` steps of this epoch are finished; stats() -> {name: text} for the display."""
        if self.bar is not None:
            self.bar.update(1)
            if done % 10 == 0:
                self.bar.set_postfix(stats())
        elif self.enabled and done in self.marks:
            shown = "  ".join(f"{k} {v}" for k, v in stats().items())
            print(f"{self.desc}: step {done}/{self.total}  {shown}", file=self.stream, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
