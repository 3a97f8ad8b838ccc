"""Experiments that train several models and test the ViT paper's claims on MNIST:

- data_scale.py: ViT (patch 7 and 4) against a ResNet as the training set grows, each run
  until its training loss plateaus; data_scale_validation.py: the same runs stopped by a
  validation rule (early stopping on a split held out of each subset), marked when the cap
  stopped them instead;
- attention_distance.py: does attention distance grow with depth, on 4x4, 7x7 and 14x14
  grids of patches, with and without CutMix;
- rollout.py: attention rollout held against a positional template, the ink, and deletion
  (over all patches, among inked patches only, and at equal ink removed).

runs.py trains, resumes or reads back one run. The experiments return numbers and write
result files (CSV, JSON); the command line draws their figures.
"""
