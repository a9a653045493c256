"""images data: datamodules and their readers."""
