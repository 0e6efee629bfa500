"""Verifiable rewards served beside (or instead of) a reward model: built-in rules (math answers,
a format regex, a length penalty), user functions in OpenRLHF's ``reward_func`` form or a per-sample
form, a worker pool that runs them with a per-call timeout, and the weighted combination."""

from rewardkit.rules.composite import Composite, parse_weights
from rewardkit.rules.loading import Rule, load_rule
from rewardkit.rules.pool import RulePool
from rewardkit.rules.sample import Sample, samples_from, samples_from_conversations

__all__ = [
    "Composite",
    "Rule",
    "RulePool",
    "Sample",
    "load_rule",
    "parse_weights",
    "samples_from",
    "samples_from_conversations",
]
