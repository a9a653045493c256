"""series data: datamodules and their readers."""
