"""Pairwise preference models: comparisons, tournaments, Bradley-Terry."""
