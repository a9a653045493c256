"""LightningModules, one per task. Import the submodules directly (they import Lightning)."""
