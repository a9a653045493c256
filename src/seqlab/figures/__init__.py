"""Figures by domain, and the worker that saves them (`seqlab.figures.worker`)."""
