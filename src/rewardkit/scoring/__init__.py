"""The scoring core: one implementation of every scoring behaviour, driven two ways.

    steps.py      what to score (texts, conversations, pairs), never how
    plans.py      score / compare / rank / best_of_n / reference sets, written once as plans
    front.py      the public scoring methods over plans, with a sync and an async driver
    core.py       one model: a step -> token ids -> the step's answer (templating, objectives)
    model.py      RewardModel: the sync front end (runner in this thread)
    service.py    RewardService: the async front end (the batching engine)
    ensemble.py   Ensemble / EnsembleService: members answer each step, scores combined
    remote.py     RemoteMember: another server as an async ensemble member
    member_health.py  MemberHealth: a remote member's /health, probed in the background
    bulk.py       `rewardkit score`: a JSONL file scored in order through RewardModel
    pairwise.py   pairwise preference prompts and comparisons
    scorer(s).py  the Scorer protocol evaluation runs on, and its concrete scorers
    protocols.py  ScoringService: what the HTTP routes need of a served scorer

Imports no torch at import time; knows nothing about HTTP routes.
"""
