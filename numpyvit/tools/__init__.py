"""Maintenance tools that ship with numpyvit but are not part of the model: the notebook check."""
