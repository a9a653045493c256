"""text data: datamodules and their readers."""
