"""Ready reward functions for trainers: OpenRLHF (`openrlhf_reward.py`) and TRL (`trl.py`)."""
