"""Evaluation of reward models over datasets: preference-pair accuracy, multiple-choice ranking,
Best-of-N curves, and RewardBench 2 and RM-Bench scored as their authors score them. Metrics are
pure numpy; runners feed them scores from a `Scorer`."""
