"""Batching engine: batcher (queue -> batches), runner (batch -> floats), engine (supervises)."""
