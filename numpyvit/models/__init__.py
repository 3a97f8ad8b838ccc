"""The models built from the layers: the Vision Transformer and the ResNet baseline.

config.py (what the config dataclasses share), inputs.py (the check at every model's entry),
vit.py, resnet.py, registry.py (the one list of model kinds) and flops.py.
Imports only the layers, the package's errors and other models.
"""
