"""Data, as every part of numpyvit needs it: the datasets and their verified fetching
(mnist.py: the IDX format), normalisation, batches and subsets (prepare.py), augmentation
(augment.py) and a learnable fake dataset for fast tests (synthetic.py).
Imports nothing of the package but errors and files: the app, insight, experiments and
training all take their data from here.
"""
