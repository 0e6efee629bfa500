"""Frozen, keyword-only settings. Each field carries its help text; the CLI is generated from them.

Flag names follow the tools users know (vLLM's --dtype/--max-model-len idea, OpenRLHF's
--normalize_reward) where they mean the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

__all__ = [
    "PAIRWISE_TEMPLATE",
    "EngineConfig",
    "EnsembleConfig",
    "ModelConfig",
    "RewardsConfig",
    "ServerConfig",
    "help_text",
]

Dtype = Literal["auto", "float32", "bfloat16", "float16"]
Device = Literal["auto", "cpu", "cuda"]
Truncation = Literal["left", "right", "error"]
StepAggregation = Literal["min", "last", "mean", "prod"]
VerifierOutput = Literal["probability", "logit-diff"]
EnsembleMethod = Literal["mean", "wco", "uwo"]

PAIRWISE_TEMPLATE = "[CONTEXT] {context} [RESPONSE A] {response_a} [RESPONSE B] {response_b} \n"


# Batching defaults by device, read through EngineConfig.for_device (the help texts quote them). Padding
# is pure waste on a CPU and cheap on a GPU; large batches pay on a GPU, while on a CPU they mostly
# lengthen the latency tail.
CPU_DEFAULTS = {"max_batch_tokens": 4096, "max_padding_ratio": 0.05, "lookahead": 16}
CUDA_DEFAULTS = {"max_batch_tokens": 32768, "max_padding_ratio": 0.3, "lookahead_per_batch": 4}


def _opt(default: Any, help: str, **extra: Any) -> Any:
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """How a checkpoint is loaded and how its inputs are prepared."""

    dtype: Dtype = _opt(
        "auto",
        "Weights and compute dtype. 'auto' = bfloat16 on a GPU that supports it, else float32.",
        choices=["auto", "float32", "bfloat16", "float16"],
    )
    device: Device = _opt(
        "auto",
        "Where the model runs. 'auto' = cuda when available, else cpu.",
        choices=["auto", "cpu", "cuda"],
    )
    max_length: int | None = _opt(
        None,
        "Longest input in tokens (after the chat template). Default: the model's own limit, at most 8192. "
        "Above the model's position limit (max_position_embeddings or the like in config.json) the load is "
        "refused, as vLLM refuses --max-model-len.",
    )
    truncation: Truncation = _opt(
        "left",
        "What to do with longer inputs. 'left' drops the START and keeps the end, where the reward is read "
        "(default); 'right' keeps the start; 'error' rejects the request with HTTP 413.",
        choices=["left", "right", "error"],
    )
    normalize: bool | None = _opt(
        None,
        "Apply (reward - mean) / std with mean/std from the checkpoint's config.json (OpenRLHF's "
        "--normalize_reward). Default: on when the config says normalize_reward, else off.",
    )
    trust_remote_code: bool = _opt(
        False,
        "Allow custom model classes shipped inside the checkpoint (auto_map). Runs code from that folder.",
    )
    append_eos: bool = _opt(
        False,
        "Legacy OpenRLHF query format: strip trailing pad/eos text from each query and append the eos token "
        "before scoring. Only for checkpoints trained that way; off by default.",
    )

    packing: bool = _opt(
        True,
        "Run batches padding-free: sequences packed into one row, attention kept within each, so no pad "
        "token is computed (decoder classifiers and value heads of llama/qwen2/qwen3/mistral; /info says "
        "whether a model is packed and why not). --no-packing keeps the padded forward.",
    )
    fused_forward: bool = _opt(
        True,
        "Packed Llama-family models (llama/qwen2/qwen3/mistral) run rewardkit's own forward on CPU: query/key/"
        "value and gate/up projections fused, weights prepacked once for oneDNN's GEMM kernels, one fused "
        "RMSNorm kernel, attention over every sequence of a batch in one call of a native kernel per layer "
        "(built with the machine's C compiler on first use; one SDPA call per sequence without one, or with "
        "REWARDKIT_NATIVE_ATTENTION=0). Same arithmetic as the transformers modules (scores equal to float "
        "noise; /info says which forward and which attention run). --no-fused-forward runs the "
        "transformers modules instead. Not combined with --compile, which compiles those modules.",
    )
    enable_prefix_caching: bool = _opt(
        True,
        "Keep the keys and values the fused forward computes, by token prefix, and reuse them for later "
        "sequences that start the same way (a GRPO prompt's next answer, the rejected answer after the chosen "
        "one, a tree search coming back to a node), as vLLM's automatic prefix caching does: only the new "
        "tokens are computed. Whole blocks of 16 tokens, least recently used first out; tokens whose hidden "
        "state is read (the last token, a PRM's step tags) are always computed. Scores equal to float noise "
        "(1e-5 in float32). Off under --batch-invariant. /info says whether it is on; /metrics counts cached "
        "tokens.",
    )
    prefix_cache_gib: float = _opt(
        1.0,
        "Memory for the prefix cache, in GiB (vLLM's VLLM_CPU_KVCACHE_SPACE). Pages are only taken as blocks "
        "are stored. A 135M Llama holds about 46,000 tokens per GiB in bfloat16, a 7B one about 8,000.",
    )
    compile: bool = _opt(
        False,
        "torch.compile the packed forward's decoder layers (one graph shared by every layer, any row length), "
        "compiled at start-up by a warm-up forward so no request waits for it. Start-up takes longer "
        "(about 40 s for a 30-layer model on CPU); gains are in benchmarks/RESULTS.md. Needs a packed model.",
    )
    batch_invariant: bool = _opt(
        False,
        "Bit-identical scores for a text whatever else is batched with it (RL runs that need reproducible "
        "rewards): every sequence runs in a forward of its own, and no prefix is taken from the cache. Costs "
        "most of batching's speed "
        "(benchmarks/RESULTS.md); without it, scores agree across batches to float noise (1e-5).",
    )
    objective: str | None = _opt(
        None,
        "For models with several outputs: which one is the reward (a label name or an index). Default: the "
        "model's own score (the gated score of ArmoRM-style models), else the first label. All outputs are "
        "still returned as 'objectives'.",
    )
    step_separator: str | None = _opt(
        None,
        "Process reward models: the token that ends each reasoning step. Default: 'step_separator' in "
        "config.json, else <extra_0> when the tokenizer has it (Qwen2.5-Math-PRM), else a newline (TRL). "
        "Recipes: math-shepherd's step tag (default 'ки'); rlhflow-prm's text the answer is split on "
        "(default '\\n\\n', 'ки\\n' for the Mistral-Data model).",
    )
    step_aggregation: StepAggregation | None = _opt(
        None,
        "Process reward models: how per-step scores become one reward (min = weakest step). Default: the "
        "recipe's own (min for math-shepherd, mean for rlhflow-prm), else min.",
        choices=["min", "last", "mean", "prod"],
    )
    num_padding_at_beginning: int | None = _opt(
        None,
        "DeepSpeed-Chat reward models: how many leading pad-id tokens to skip before the first pad that "
        "ends the text (its flag of the same name). Default: 1 for OPT, whose BOS equals its pad id, else 0.",
    )
    recipe: str | None = _opt(
        None,
        "Read the reward as a published model family's card does (`rewardkit recipes` lists them: "
        "math-shepherd, rlhflow-prm, nemotron-reward, internlm2-reward, yes-no-verifier, ...). Default: "
        "detected from the checkpoint when that is unambiguous (/info says how), else the generic format.",
    )
    judge_template: str | None = _opt(
        None,
        "yes-no-verifier: a Jinja file holding the user message the verifier reads, with {{ prompt }} and "
        "{{ response }}; rendered through the chat template with a generation prompt. Default: a question "
        "whether the response is correct (`rewardkit recipes` shows it).",
    )
    verifier_tokens: str = _opt(
        "Yes,No",
        "yes-no-verifier: the affirmative and negative answer tokens, comma-separated; each must be one token.",
    )
    verifier_output: VerifierOutput = _opt(
        "probability",
        "yes-no-verifier: 'probability' = P(yes) / (P(yes) + P(no)) at the next-token position; 'logit-diff' = "
        "logit(yes) - logit(no), the log-odds.",
        choices=["probability", "logit-diff"],
    )
    pairwise: bool = _opt(
        False,
        "Load a causal LM as a pairwise preference model (RLHFlow style): it reads the template below and "
        "answers with the first or second token of --pairwise-tokens. Served by /compare and /rank.",
    )
    pairwise_template: str = _opt(
        PAIRWISE_TEMPLATE,
        "Pairwise models: the user message, with {context}, {response_a} and {response_b}. As RLHFlow's code "
        "does, it is rendered as one user turn by the chat template WITHOUT a generation prompt (BOS text "
        "dropped), and the answer token is read at the position right after it.",
    )
    pairwise_tokens: str = _opt(
        "A,B", "Pairwise models: the two answer tokens, comma-separated; each must be a single token."
    )
    pairwise_temperature: float = _opt(1.0, "Pairwise models: P(A) = softmax([logit_A, logit_B] / temperature)[0].")


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    """How requests are batched together."""

    max_batch_tokens: int | None = _opt(
        None,
        f"Most padded tokens in one forward pass. Default: {CPU_DEFAULTS['max_batch_tokens']} on cpu, "
        f"{CUDA_DEFAULTS['max_batch_tokens']} on cuda. Long inputs above this still run, alone.",
    )
    max_batch_size: int = _opt(64, "Most sequences in one forward pass.")
    max_wait_ms: float = _opt(
        2.0, "How long an idle engine waits for more requests to fill a batch. Under load there is no wait."
    )
    max_queue: int = _opt(
        4096, "Most sequences waiting to be scored. Past it, requests get HTTP 503 with Retry-After at once."
    )
    max_padding_ratio: float | None = _opt(
        None,
        "Most padding a batch may carry, as a fraction of its real tokens. Padding is pure waste on a CPU "
        f"and cheap on a GPU. Default: {CPU_DEFAULTS['max_padding_ratio']} on cpu, "
        f"{CUDA_DEFAULTS['max_padding_ratio']} on cuda.",
    )
    max_lookahead: int | None = _opt(
        None,
        "How many of the oldest waiting requests a batch may draw sequences from. A sequence that joins a "
        "batch overtakes the older requests it skips, so this bounds the latency tail. Default: "
        f"{CPU_DEFAULTS['lookahead']} on cpu (batching gains little there), "
        f"{CUDA_DEFAULTS['lookahead_per_batch']} x --max-batch-size on cuda.",
    )
    tokenizer_threads: int = _opt(2, "Threads that apply chat templates and tokenize, off the event loop.")
    forward_process: bool | None = _opt(
        None,
        "Run a CPU model's forward in a process of its own, so the server's HTTP and tokenizing work never "
        "holds up its compute threads (the weights are loaded a second time, in that process). Default: on "
        "for `rewardkit serve` on CPU, off in-process (RewardService) and on CUDA.",
    )

    def for_device(self, device: object) -> EngineConfig:
        """This config with every device-dependent default filled in for ``device`` ("cpu", "cuda:0", a
        torch.device). The one place those defaults live: the server's engine, RewardModel, `rewardkit
        score`, evaluation and training features all read them from here."""
        on_gpu = str(device).startswith("cuda")
        defaults = CUDA_DEFAULTS if on_gpu else CPU_DEFAULTS
        lookahead = defaults["lookahead_per_batch"] * self.max_batch_size if on_gpu else defaults["lookahead"]
        return replace(
            self,
            max_batch_tokens=self.max_batch_tokens or defaults["max_batch_tokens"],
            max_padding_ratio=defaults["max_padding_ratio"]
            if self.max_padding_ratio is None
            else self.max_padding_ratio,
            max_lookahead=lookahead if self.max_lookahead is None else self.max_lookahead,
        )


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """The HTTP front."""

    host: str = _opt("127.0.0.1", "Address to bind. The default accepts local connections only.")
    port: int = _opt(8000, "Port to bind.")
    api_key: str | None = _opt(
        None,
        "Require 'Authorization: Bearer KEY' on every route but /health. Also read from REWARDKIT_SERVER_API_KEY "
        "(never from REWARDKIT_API_KEY, the key clients send). "
        "An empty key is refused (it usually means an unset shell variable).",
    )
    api_key_file: str | None = _opt(
        None,
        "A file of accepted API keys, one per line ('#' starts a comment), re-read when it changes: keys stay "
        "off the command line and rotate without a restart. Combines with --api-key.",
    )
    max_request_bytes: int = _opt(64 * 1024 * 1024, "Largest request body accepted, in bytes (HTTP 413 past it).")
    max_items_per_request: int = _opt(
        4096,
        "Most texts, conversations or candidates in one request (HTTP 413 past it, before any tokenizing).",
    )
    max_chars_per_item: int = _opt(
        4_000_000,
        "Most characters in one item, context included (HTTP 413 past it). Texts longer than --max-length "
        "tokens are cut exactly before tokenizing, so this bounds only what a request may carry.",
    )
    request_timeout: float | None = _opt(
        None,
        "Seconds a request may take, queueing included; past it its queued work is dropped and it gets HTTP "
        "504. A client may ask for less with an X-Request-Timeout header. Default: no limit.",
    )
    body_timeout: float = _opt(
        60.0, "Seconds a client has to send the whole request body (HTTP 408 past it): stalled uploads let go."
    )
    drain_timeout: float = _opt(
        30.0,
        "On SIGTERM: stop accepting, let running requests finish for this many seconds, answer the rest "
        "HTTP 503, then exit.",
    )
    exit_on_fatal_error: bool = _opt(
        True,
        "After a fatal engine error (a broken CUDA context: nothing more can be scored in this process), "
        "answer what is in flight, then exit with status 3 so a supervisor (systemd, Kubernetes) starts a "
        "fresh server; /health answers 503 from the error on. --no-exit-on-fatal-error keeps the process "
        "up, answering 503, for someone to look at.",
    )
    log_level: str = _opt("info", "Uvicorn log level.", choices=["critical", "error", "warning", "info", "debug"])
    ui: bool = _opt(
        True,
        "Serve a playground and a live dashboard at /ui: score candidates, see rankings, objectives, step "
        "scores, ensemble members and metrics. Its files need no key; all data comes through the API (with "
        "the key when one is set). --no-ui turns it off (404).",
    )
    ray_replicas: int = _opt(
        0,
        "Serve N replicas of this server behind one HTTP endpoint on Ray Serve (each its own model copy, engine "
        "and batching; Ray replaces a replica that dies or whose engine fails fatally). Connects to RAY_ADDRESS, "
        "else starts a local Ray. 0: no Ray, one process. Needs pip install 'rewardkit[ray]'.",
        panel="Ray",
    )
    served_model_name: str | None = _opt(
        None,
        "The model name GET /v1/models lists and the vLLM-style routes answer with (vLLM's flag of the same "
        "name); the 'model' a request sends is not checked (one server serves one model). Default: the MODEL "
        "argument as given ('builtin', a path).",
    )
    ray_cpus_per_replica: float = _opt(
        1.0, "With --ray-replicas: CPUs each replica reserves (its torch threads).", panel="Ray"
    )
    ray_gpus_per_replica: float = _opt(0.0, "With --ray-replicas: GPUs each replica reserves.", panel="Ray")


@dataclass(frozen=True, kw_only=True)
class EnsembleConfig:
    """How several reward models' scores become one (used when more than one MODEL is given)."""

    ensemble: EnsembleMethod = _opt(
        "mean",
        "How member rewards are combined: 'mean'; 'wco' (worst-case: the minimum over members); 'uwo' "
        "(uncertainty-weighted: mean - uwo_lambda * variance across members).",
        choices=["mean", "wco", "uwo"],
    )
    uwo_lambda: float = _opt(0.5, "Weight of the across-member variance in 'uwo'; 0 gives the mean.")
    standardize: str | None = _opt(
        None,
        "A JSONL reference set ({'text'|'query'|'messages'} per line): each member's scores are z-scored with "
        "its own mean and std over it before combining, so members on different scales weigh the same.",
    )


DEFAULT_FORMAT_PATTERN = r"(?s)\s*<think>.*?</think>\s*<answer>.*?</answer>\s*"


@dataclass(frozen=True, kw_only=True)
class RewardsConfig:
    """Verifiable rewards served beside the model (or alone): rules combined with its reward."""

    reward_fn: list[str] = field(
        default_factory=list,
        metadata={
            "help": "A reward function served beside the model; repeat for several. FILE.py:NAME loads NAME from "
            "a file: OpenRLHF's reward_func(queries, prompts, labels) (returns rewards, or a dict with 'rewards' "
            "and 'extra_logs'), or a per-sample function whose parameters are named from query, prompt, label, "
            "response (returns a float). Built in: 'math' (the response's final answer equals the label, checked "
            "by math-verify), 'format' (the response matches --format-pattern), 'length' (DAPO's overlong "
            "penalty). ALIAS=SPEC renames one. With no MODEL, the rules are served alone.",
        },
    )
    weights: str | None = _opt(
        None,
        "How the parts combine into 'rewards': NAME=WEIGHT,... where 'model' is the model's reward and the other "
        "names are the reward functions' (e.g. model=1,math=0.5). Unnamed parts weigh 1. Every part is "
        "returned in extra_logs under its name.",
    )
    reward_fn_timeout: float = _opt(
        10.0,
        "Seconds one reward-function call may take (per item, or per request for the batch form); past it the "
        "worker is replaced and the request gets HTTP 500 naming the rule and the item.",
        min=0.001,
    )
    reward_fn_workers: int = _opt(
        2, "Worker processes that run reward functions (a hung or crashed call never blocks the server).", min=1
    )
    format_pattern: str = _opt(
        DEFAULT_FORMAT_PATTERN,
        "The 'format' rule: a Python regex the whole response must match for reward 1 (else 0). Default: "
        "<think>...</think> then <answer>...</answer>.",
    )
    max_response_chars: int = _opt(
        4000,
        "The 'length' rule: the response budget in characters (the generation limit). Past "
        "max_response_chars - overlong_buffer_chars the penalty grows linearly to -overlong_penalty_factor.",
        min=1,
    )
    overlong_buffer_chars: int = _opt(
        1000, "The 'length' rule: the soft zone before the budget (OpenRLHF's --overlong_buffer_len).", min=1
    )
    overlong_penalty_factor: float = _opt(
        1.0, "The 'length' rule: the penalty at and past the budget (OpenRLHF's --overlong_penalty_factor)."
    )


def help_text(config_cls: type, name: str) -> str:
    """The help string of one field, so that docs and CLI read the same text."""
    for f in fields(config_cls):
        if f.name == name:
            return f.metadata.get("help", "")
    raise KeyError(name)
