"""Draw a digit and watch the ViT read it: MNIST-style preprocessing of user images
(preprocess.py) and a small web app that shows the prediction and the attention (server.py,
static/). `python -m numpyvit serve RUN_OR_CHECKPOINT` starts it."""
from .preprocess import ImageError, preprocess_digit, read_image

__all__ = ["ImageError", "preprocess_digit", "read_image"]
