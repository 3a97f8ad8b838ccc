"""A small ResNet for 28x28 digits (He et al. 2016, "Deep Residual Learning for Image
Recognition"), the convolutional baseline next to the ViT.

Shape legend: B batch, C channels, H, W image height/width, F a stage's width, K classes.

The layout is the CIFAR-style ResNet of the paper's section 4.2: a 3x3 stem convolution,
then stages of basic blocks, each stage after the first halving H and W (stride 2) and
widening the channels, then global average pooling and one linear classifier. ImageNet's
7x7 stride-2 stem and max-pool would shrink a 28x28 digit to 7x7 before the first block,
so they are left out. Parameter names are torchvision's (`layer2.0.downsample.0.weight`,
`bn1.running_var`), so a state dict lines up with a torchvision-style PyTorch model.
"""
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..layers.activations import ReLU
from ..layers.conv import BatchNorm2d, Conv2d, GlobalAvgPool2d
from ..layers.linear import Linear
from ..layers.module import Module, as_generator
from .config import Config, check_positive_int
from .inputs import check_images


@dataclass
class ResNetConfig(Config):
    image_size: int = 28                   # input height = width in pixels (MNIST: 28)
    in_channels: int = 1                   # greyscale
    num_classes: int = 10                  # digits 0-9
    widths: tuple = (16, 32, 64)           # channels of each stage; stage i > 0 halves H and W
    blocks_per_stage: tuple = (2, 2, 2)    # basic blocks per stage: 6 blocks, 13 conv layers + fc
    stem_stride: int = 2                   # stride of the 3x3 stem: 2 starts at 14x14 (11 MFLOP per
                                           # image forward, near the ViT's 7.2, ~3x faster than 1);
                                           # 1 keeps the full 28x28 (40 MFLOP)

    def __post_init__(self):
        for name in ("image_size", "in_channels", "num_classes", "stem_stride"):
            check_positive_int(name, getattr(self, name))
        for name in ("widths", "blocks_per_stage"):
            value = getattr(self, name)
            if not isinstance(value, (tuple, list)) or not value:
                raise ConfigError(f"{name}={value!r} must be a non-empty tuple of positive integers")
            for i, v in enumerate(value):
                check_positive_int(f"{name}[{i}]", v)
            setattr(self, name, tuple(value))       # a list (from JSON) becomes a tuple
        if len(self.widths) != len(self.blocks_per_stage):
            raise ConfigError(f"widths={self.widths} and blocks_per_stage={self.blocks_per_stage} "
                             f"must have the same length (one entry per stage)")





def receptive_fields(config):
    """The theoretical receptive field of each stage's output, as a side in pixels: a list,
    one per stage. Each 3x3 convolution widens the field by 2 steps of the current stride
    (r += 2 j), and a stride-2 one doubles the step (j *= 2). The default config gives 19, 47
    and 103 px: from stage 2 on, a unit can see the whole 28 px image. (How much of that field
    a unit actually uses is another matter; it is usually far less.)"""
    r, j = 3, config.stem_stride                  # after the 3x3 stem
    fields = []
    for i, depth in enumerate(config.blocks_per_stage):
        for b in range(depth):
            for conv in range(2):                 # conv1 (stride 2 in the first block of stages > 0), conv2
                r += 2 * j
                if conv == 0 and b == 0 and i > 0:
                    j *= 2
        fields.append(r)
    return fields


class BasicBlock(Module):
    """out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), torchvision's BasicBlock.

    x: (B, C, H, W) -> out: (B, F, H/s, W/s). conv1 is 3x3 with stride s, conv2 3x3 stride 1,
    both without bias (the batch norm after each has one). The shortcut is the identity when
    the shape is kept, else `downsample` = [1x1 conv stride s, batch norm] (the paper's
    projection shortcut, option B), named `downsample.0` and `downsample.1` as in torchvision.
    `rng` (required): an int seed or a Generator; conv1, conv2, then downsample draw from it.
    """

    def __init__(self, in_channels, out_channels, stride=1, *, rng=None, dtype=np.float32):
        super().__init__(dtype)
        rng = as_generator(rng, "BasicBlock")   # one generator, drawn by the convs in turn
        self.conv1 = Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False,
                            rng=rng, dtype=dtype)
        self.bn1 = BatchNorm2d(out_channels, dtype=dtype)
        self.relu1 = ReLU(dtype=dtype)
        self.conv2 = Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False,
                            rng=rng, dtype=dtype)
        self.bn2 = BatchNorm2d(out_channels, dtype=dtype)
        if stride != 1 or in_channels != out_channels:
            self.downsample = [Conv2d(in_channels, out_channels, 1, stride=stride, bias=False,
                                      rng=rng, dtype=dtype),
                               BatchNorm2d(out_channels, dtype=dtype)]
        else:
            self.downsample = None
        self.relu2 = ReLU(dtype=dtype)   # its own ReLU: each keeps the mask of its own input

    def forward(self, x):
        h = self.relu1.forward(self.bn1.forward(self.conv1.forward(x)))   # (B, F, H/s, W/s)
        h = self.bn2.forward(self.conv2.forward(h))                       # (B, F, H/s, W/s)
        shortcut = x
        if self.downsample is not None:
            conv, bn = self.downsample
            shortcut = bn.forward(conv.forward(x))                        # (B, F, H/s, W/s)
        return self.relu2.forward(h + shortcut)

    def backward(self, dout):
        dsum = self.relu2.backward(dout)                                  # (B, F, H/s, W/s)
        # the sum h + shortcut passes its gradient unchanged to both branches ...
        dh = self.bn2.backward(dsum)
        dh = self.conv2.backward(dh)
        dh = self.bn1.backward(self.relu1.backward(dh))
        dx_main = self.conv1.backward(dh)                                 # (B, C, H, W)
        if self.downsample is None:
            dx_shortcut = dsum
        else:
            conv, bn = self.downsample
            dx_shortcut = conv.backward(bn.backward(dsum))                # (B, C, H, W)
        # ... and x, used by both branches, collects both contributions
        return dx_main + dx_shortcut


class ResNet(Module):
    """images (B, C, H, W) -> logits (B, K).

    conv1 (3x3, stride `stem_stride`) -> bn1 -> relu -> layer1 ... layerS (lists of
    BasicBlocks; the first block of every stage after the first has stride 2) -> global
    average pool -> fc. Convolutions start He-normal (see Conv2d), batch norms at weight 1,
    bias 0, and fc like the ViT's head (truncated normal, std 0.02, bias 0).

    The default config has 174,970 parameters (the default ViT: 205,962) and costs 11 MFLOP
    per image forward (the ViT: 7.2): its stride-2 stem makes the stages 14x14, 7x7 and 4x4,
    so the two models compared in the data-scale experiment are alike in size and compute.
    The public interface is the VisionTransformer's: forward, backward, check_images,
    named_parameters, state_dict (with the batch-norm running statistics),
    load_state_dict, train/eval, zero_grad, num_parameters.
    """
    kind = "resnet"   # the checkpoint's name for this architecture

    def __init__(self, config=None, seed=0, dtype=np.float32):
        super().__init__(dtype)
        self.config = config = config if config is not None else ResNetConfig()
        rng = np.random.default_rng(seed)
        width = config.widths[0]
        self.conv1 = Conv2d(config.in_channels, width, 3, stride=config.stem_stride, padding=1,
                            bias=False, rng=rng, dtype=dtype)
        self.bn1 = BatchNorm2d(width, dtype=dtype)
        self.relu = ReLU(dtype=dtype)
        # the stages become attributes layer1, layer2, ... so the parameters get torchvision's
        # names (`layer1.0.conv1.weight`); stage_names keeps their order
        self.stage_names = tuple(f"layer{i + 1}" for i in range(len(config.widths)))
        in_channels = width
        for i, (width, depth) in enumerate(zip(config.widths, config.blocks_per_stage)):
            stride = 1 if i == 0 else 2
            blocks = [BasicBlock(in_channels if j == 0 else width, width, stride if j == 0 else 1,
                                 rng=rng, dtype=dtype) for j in range(depth)]
            setattr(self, self.stage_names[i], blocks)
            in_channels = width
        self.avgpool = GlobalAvgPool2d(dtype=dtype)
        self.fc = Linear(in_channels, config.num_classes, rng=rng, dtype=dtype)
        self.image_shape = None

    def blocks(self):
        """Every BasicBlock, in forward order."""
        return [block for name in self.stage_names for block in getattr(self, name)]

    def check_images(self, images):
        """Validate images (B, C, H, W) and return them in the model's dtype."""
        return check_images(images, self.config.in_channels, self.config.image_size, self.dtype)

    def forward(self, images):
        images = self.check_images(images)
        self.image_shape = images.shape
        x = self.relu.forward(self.bn1.forward(self.conv1.forward(images)))  # (B, F0, H/s, W/s)
        for block in self.blocks():
            x = block.forward(x)                                       # (B, F, H', W')
        x = self.avgpool.forward(x)                                    # (B, F_last)
        return self.fc.forward(x)                                      # (B, K)

    def backward(self, dlogits):
        self.require_forward("image_shape")
        dx = self.avgpool.backward(self.fc.backward(dlogits))          # (B, F_last, H', W')
        for block in reversed(self.blocks()):
            dx = block.backward(dx)
        dx = self.bn1.backward(self.relu.backward(dx))                 # (B, F0, H/s, W/s)
        return self.conv1.backward(dx)                                 # (B, C, H, W)
