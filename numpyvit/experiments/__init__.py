"""Experiments that train several models and test the ViT paper's claims on MNIST:

- data_scale.py: ViT (patch 7 and 4) against a ResNet as the training set grows;
- attention_distance.py: does attention distance grow with depth, on 4x4, 7x7 and 14x14
  grids of patches, with and without CutMix;
- rollout.py: attention rollout held against a positional template, the ink, and deletion.

runs.py trains, resumes or reads back one run. The experiments return numbers and write
result files (CSV, JSON); the command line draws their figures.
"""
