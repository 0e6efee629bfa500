"""Rows in and out, and one reader per dataset format.

files.py reads data files (JSON, JSON Lines, gzipped, CSV) and writes them atomically (through a
``<name>.partial`` file); rows.py says what one scoring row asks to score; records.py holds the
dataclasses readers produce; hh_rlhf.py, preference.py, llmbar.py, alpaca_eval.py, unlabeled.py,
truthfulqa.py and multiple_choice.py read one format each; readers.py tells a file's format from its
first row and reads it. Benchmarks named by their command (rewardbench2.py, rm_bench.py) are read
through streams.py, which streams JSON, JSON Lines and Parquet rows so that a file is checked whole
and then scored without being held. Knows nothing about models, scores or torch: imports only
rewardkit.errors, rewardkit.types and rewardkit.templating.
"""
