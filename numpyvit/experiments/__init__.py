"""Experiments that train several models and compare them: data_scale.py (ViT against a
ResNet as the training set grows). They return numbers and write result files; the command
line draws their figures.
"""
