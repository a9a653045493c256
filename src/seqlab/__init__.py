"""seqlab: a PyTorch Lightning + Hydra experiment template for sequence models.

Importing ``seqlab`` is cheap: heavy dependencies (lightning, wandb, datasets,
matplotlib) are imported where they are used.
"""

__version__ = "0.1.0"
