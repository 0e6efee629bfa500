"""Ready reward functions for trainers: OpenRLHF (`openrlhf_reward.py`), TRL (`trl.py`, sync and async)
and verl (`verl.py`), each over the HTTP client."""
