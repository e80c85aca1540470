"""Training side: fitting models on history; never imported by the stream."""
