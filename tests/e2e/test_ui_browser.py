"""The /ui page in a real headless browser (Debian's chromium driven by selenium) against real
`rewardkit serve` processes on tiny checkpoints: one server per model kind, shared by the module."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from contextlib import ExitStack

import httpx
import pytest
from processes import app_in_thread, launch_server, stop_server, wait_until_serving

from rewardkit.config import EngineConfig, EnsembleConfig, ModelConfig, ServerConfig
from rewardkit.serving import build_from_sources

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium")
DRIVER = shutil.which("chromedriver")
if CHROMIUM is None or DRIVER is None:
    pytest.skip(
        "the /ui browser test needs Debian's chromium and its driver: apt-get install chromium chromium-driver",
        allow_module_level=True,
    )
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the dev extra: pip install -e '.[dev]'")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

KEY = "ui-test-key"
PROMPT = "What is the capital of France?"
ANSWERS = ["Paris.", "I think it might be Lyon, or maybe Marseille.", "The capital of France is Paris."]
HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
RULES = '''
def explode(response):
    """Raises on purpose for an answer that asks it to: the page must show the server's 500."""
    if "EXPLODE" in response:
        raise ValueError("exploded on purpose")
    return float(len(response) % 3)
'''


BROWSER_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,900")


def browser_options():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in BROWSER_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return options


IN_THREAD = {
    # kind: (checkpoints, model config, ensemble config, server config)
    "prm": (["token_classification_prm"], ModelConfig(), EnsembleConfig(), ServerConfig(api_key=KEY)),
    "pairwise": (["pairwise_lm"], ModelConfig(pairwise=True), EnsembleConfig(), ServerConfig()),
    "ensemble": (["llama", "llama_no_pad"], ModelConfig(), EnsembleConfig(ensemble="uwo"), ServerConfig()),
    "multi": (["llama_multi_label"], ModelConfig(), EnsembleConfig(), ServerConfig()),
}
"""A process reward model (steps end at a newline) behind an API key, a pairwise model, an ensemble
of two classifiers and a multi-objective model."""


@pytest.fixture(scope="module")
def servers(checkpoint, tmp_path_factory):
    """One server per model kind. The sequence classifier is a `rewardkit serve` process with two
    reward functions beside it and a 100,000-character item limit; the other kinds (IN_THREAD) are
    built in this process and served by uvicorn in a thread while that process starts."""
    rules = tmp_path_factory.mktemp("rules") / "rules.py"
    rules.write_text(RULES)
    classifier_args = ("--reward-fn", "length", "--reward-fn", f"{rules}:explode", "--max-chars-per-item", "100000")
    launched = launch_server(str(checkpoint("llama")), *classifier_args)
    try:
        with ExitStack() as stack:
            urls = {}
            for kind, (names, model_config, ensemble_config, server_config) in IN_THREAD.items():
                sources = [str(checkpoint(name)) for name in names]
                app, _ = build_from_sources(sources, model_config, EngineConfig(), server_config, ensemble_config)
                urls[kind] = stack.enter_context(app_in_thread(app, lifespan="on"))
            urls["classifier"] = wait_until_serving(*launched)[1]
            yield urls
    finally:
        stop_server(launched[0])


@pytest.fixture(scope="module")
def classifier(servers):
    return servers["classifier"]


@pytest.fixture(scope="module")
def prm(servers):
    return servers["prm"]


@pytest.fixture(scope="module")
def browser(servers):
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=browser_options())
    yield driver
    driver.quit()


def wait(driver, condition, timeout=15):
    return WebDriverWait(driver, timeout).until(lambda d: condition(d))


def visible(driver, element_id):
    return driver.find_element(By.ID, element_id).is_displayed()


def message(driver):
    return driver.find_element(By.ID, "message").text


def open_playground(driver, url):
    driver.get(url + "/ui")
    wait(driver, lambda d: visible(d, "playground") and d.find_elements(By.CSS_SELECTOR, "#examples button"))


def fill(driver, prompt, answers):
    """Set the prompt and exactly ``answers`` candidate boxes, as a user would."""
    driver.find_element(By.ID, "prompt").clear()
    driver.find_element(By.ID, "prompt").send_keys(prompt)
    while len(driver.find_elements(By.CSS_SELECTOR, "#candidates textarea")) < len(answers):
        driver.find_element(By.ID, "add-candidate").click()
    while len(driver.find_elements(By.CSS_SELECTOR, "#candidates textarea")) > len(answers):
        driver.find_elements(By.CSS_SELECTOR, "#candidates .remove")[-1].click()
    for area, answer in zip(driver.find_elements(By.CSS_SELECTOR, "#candidates textarea"), answers):
        driver.execute_script("arguments[0].value = arguments[1];", area, answer)


def score(driver):
    """Click Score and wait for the answer: a ranking or a message."""
    driver.execute_script("document.getElementById('results').textContent = '';")
    driver.find_element(By.ID, "score").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#ranking tbody tr") or message(d))


def shown_order(driver) -> list[int]:
    return [int(row.get_attribute("data-index")) for row in driver.find_elements(By.CSS_SELECTOR, "#ranking tbody tr")]


def script_errors(driver) -> list[str]:
    """Console errors other than the network log of a refused request (which the page then shows)."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "Failed to load resource" not in entry["message"]
    ]


def test_ranking_shown_is_best_of_n(browser, classifier):
    browser.get_log("browser")
    open_playground(browser, classifier)
    fill(browser, PROMPT, [*ANSWERS[:2], HOSTILE])
    score(browser)
    assert message(browser) == ""
    body = {"prompt": PROMPT, "candidates": [*ANSWERS[:2], HOSTILE]}
    answer = httpx.post(classifier + "/best_of_n", json=body).json()
    assert shown_order(browser) == answer["order"]
    best_row = browser.find_element(By.CSS_SELECTOR, "#ranking tr.best")
    assert best_row.get_attribute("data-index") == str(answer["best"]) and "best" in best_row.text
    scores = [float(c.text) for c in browser.find_elements(By.CSS_SELECTOR, "#ranking td.score")]
    assert scores == pytest.approx([answer["scores"][i] for i in answer["order"]], abs=1e-4)
    assert "Length baseline" in browser.find_element(By.ID, "results").text
    rules = browser.find_element(By.ID, "rules").text
    assert "length" in rules and "explode" in rules and "combined" in rules
    # markup in a field is text on the page, never run
    assert HOSTILE in browser.find_element(By.ID, "ranking").text
    assert browser.execute_script("return window.pwned === undefined")
    assert script_errors(browser) == []


def test_identical_answers_tie_and_claim_no_length_correlation(browser, classifier):
    open_playground(browser, classifier)
    fill(browser, PROMPT, [ANSWERS[0], ANSWERS[0]])
    score(browser)
    results = browser.find_element(By.ID, "results").text
    assert message(browser) == "" and "no rank correlation with length" in results and "ρ" not in results


def test_an_example_loads_in_one_click_and_the_python_snippet_runs(browser, classifier):
    open_playground(browser, classifier)
    examples = json.loads(httpx.get(classifier + "/ui/examples.json").text)["examples"]
    chosen = max(range(len(examples)), key=lambda i: len(examples[i]["turns"]))  # a conversation, with a system turn
    example = examples[chosen]
    browser.find_elements(By.CSS_SELECTOR, "#examples button")[chosen].click()
    assert browser.find_element(By.ID, "prompt").get_attribute("value") == example["turns"][-1]["content"]
    assert browser.find_element(By.ID, "system").get_attribute("value") == example["system"]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#turns .turn")) == len(example["turns"])
    score(browser)
    assert len(shown_order(browser)) == len(example["answers"])
    browser.find_element(By.ID, "copy-curl").click()
    curl = browser.find_element(By.ID, "snippet").text
    assert curl.startswith(f"curl -s '{classifier}/best_of_n'")
    browser.find_element(By.ID, "copy-python").click()
    snippet = browser.find_element(By.ID, "snippet").text
    assert "messages=" in snippet
    run = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("]")[0] + "]" == str(shown_order(browser))


@pytest.mark.parametrize(
    ("prompt", "answers", "expected"),
    [
        ("", ["a"], "Enter a prompt"),
        (PROMPT, [], "Add at least one candidate answer"),
        (PROMPT, ["fine", "   "], "Answer 2 is empty"),
        (PROMPT, ["x" * 1_000_000], "HTTP 413"),
        (PROMPT, ["EXPLODE"], "HTTP 500"),
    ],
    ids=["empty-prompt", "no-candidates", "blank-answer", "1MB-answer", "server-error"],
)
def test_bad_input_shows_a_message(browser, classifier, prompt, answers, expected):
    if browser.current_url != classifier + "/ui":
        open_playground(browser, classifier)
    browser.get_log("browser")
    fill(browser, prompt, answers)
    score(browser)
    assert expected in message(browser)
    assert browser.find_elements(By.CSS_SELECTOR, "#ranking") == []
    assert script_errors(browser) == []


def test_too_many_candidates_are_refused_on_the_page(browser, classifier):
    open_playground(browser, classifier)
    browser.execute_script("for (let i = 0; i < 200; i++) document.getElementById('add-candidate').click();")
    assert "At most 100 answers" in message(browser)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#candidates textarea")) == 100


def test_dashboard_numbers_move_after_traffic(browser, classifier):
    browser.get(classifier + "/ui/metrics")
    wait(browser, lambda d: d.find_elements(By.ID, "stat-scored-value"))
    before = int(browser.find_element(By.ID, "stat-scored-value").text)
    assert "hf-sequence-classification" in browser.find_element(By.ID, "model-card").text
    with httpx.Client(base_url=classifier) as client:
        for answer in ANSWERS:
            assert client.post("/best_of_n", json={"prompt": PROMPT, "candidates": [answer]}).status_code == 200
    wait(browser, lambda d: int(d.find_element(By.ID, "stat-scored-value").text) >= before + len(ANSWERS))
    wait(browser, lambda d: d.find_element(By.ID, "stat-p50-value").text.endswith("ms"))
    wait(browser, lambda d: d.find_element(By.ID, "stat-cached-value").text.endswith("%"))
    assert "/best_of_n" in browser.find_element(By.ID, "routes").text


def test_a_wrong_key_shows_the_login_form_and_no_data(browser, prm):
    browser.get(prm + "/ui")
    browser.execute_script("sessionStorage.clear();")
    browser.get(prm + "/ui")
    wait(browser, lambda d: visible(d, "login"))
    browser.find_element(By.ID, "login-key").send_keys("not-the-key")
    browser.find_element(By.ID, "login-submit").click()
    wait(browser, lambda d: "refused" in d.find_element(By.ID, "login-message").text)
    assert visible(browser, "login") and not visible(browser, "playground") and not visible(browser, "dashboard")
    assert browser.find_element(By.ID, "model-name").text == ""
    assert "token-classification" not in browser.find_element(By.TAG_NAME, "body").get_attribute("textContent")
    browser.get(prm + "/ui/metrics")
    wait(browser, lambda d: visible(d, "login"))
    assert browser.find_elements(By.CSS_SELECTOR, "#cards .card") == []


def test_a_process_reward_model_shades_each_step(browser, prm):
    browser.get(prm + "/ui")
    browser.execute_script("sessionStorage.clear();")
    browser.get(prm + "/ui")
    wait(browser, lambda d: visible(d, "login"))
    browser.find_element(By.ID, "login-key").send_keys(KEY)
    browser.find_element(By.ID, "login-submit").click()
    wait(browser, lambda d: visible(d, "playground"))
    answers = ["2 + 2 = 4.\nSo the answer is 4.\n", "2 + 2 = 5.\nSo the answer is 5.\nDone.\n", "It is 4"]
    fill(browser, "What is 2 + 2?", answers)
    score(browser)
    assert message(browser) == ""
    headers = {"Authorization": f"Bearer {KEY}"}
    question = {"role": "user", "content": "What is 2 + 2?"}
    conversations = [[question, {"role": "assistant", "content": a}] for a in answers]
    steps = httpx.post(prm + "/score", json={"conversations": conversations}, headers=headers).json()["steps"]
    for index, expected in enumerate(steps):
        block = browser.find_element(By.CSS_SELECTOR, f".steps[data-index='{index}']")
        shaded = block.find_elements(By.CSS_SELECTOR, "span.step[data-score]")
        assert [float(s.get_attribute("data-score")) for s in shaded] == pytest.approx(expected, abs=1e-5)
        assert all(s.value_of_css_property("background-color") != "rgba(0, 0, 0, 0)" for s in shaded)
    assert [len(s) for s in steps] == [2, 3, 0]


def score_example(driver, url, answers=3):
    """Load the crunchy-sound example, add answers up to ``answers``, score it."""
    open_playground(driver, url)
    driver.find_elements(By.CSS_SELECTOR, "#examples button")[1].click()
    prompt = driver.find_element(By.ID, "prompt").get_attribute("value")
    candidates = [a.get_attribute("value") for a in driver.find_elements(By.CSS_SELECTOR, "#candidates textarea")]
    candidates += [f"Another answer, number {k}." for k in range(answers - len(candidates))]
    fill(driver, prompt, candidates)
    score(driver)
    assert message(driver) == ""
    return prompt, candidates


def test_a_pairwise_model_shows_its_win_matrix(browser, servers):
    url = servers["pairwise"]
    prompt, candidates = score_example(browser, url)
    answer = httpx.post(url + "/best_of_n", json={"prompt": prompt, "candidates": candidates, "method": "round_robin"})
    assert shown_order(browser) == answer.json()["order"]
    rows = browser.find_elements(By.CSS_SELECTOR, "#matrix tbody tr")
    matrix = [[c.text for c in row.find_elements(By.TAG_NAME, "td")[1:]] for row in rows]
    assert len(matrix) == 3 and all(matrix[i][i] == "—" for i in range(3))
    compare = httpx.post(url + "/compare", json={"prompt": prompt, "responses": candidates[:2]}).json()
    assert float(matrix[0][1]) == pytest.approx(compare["probability"], abs=1e-3)
    assert float(matrix[1][0]) == pytest.approx(1 - compare["probability"], abs=1e-3)


def test_an_ensemble_shows_each_member_beside_the_combinations(browser, servers):
    url = servers["ensemble"]
    prompt, candidates = score_example(browser, url)
    answer = httpx.post(url + "/best_of_n", json={"prompt": prompt, "candidates": candidates}).json()
    assert shown_order(browser) == answer["order"]
    head = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#members thead th")]
    assert head[:3] == ["answer", "llama", "llama_no_pad"] and "worst case" in head and head[-1] == "served"
    for row, index in zip(browser.find_elements(By.CSS_SELECTOR, "#members tbody tr"), answer["order"]):
        cells = [re.match(r"#?-?[\d.]*", c.text).group() for c in row.find_elements(By.TAG_NAME, "td")]
        members = [answer["members"][name][index] for name in ("llama", "llama_no_pad")]
        assert [float(v) for v in cells[1:3]] == pytest.approx(members, abs=1e-3)
        assert float(cells[4]) == pytest.approx(min(members), abs=1e-3)  # worst case
        assert float(cells[-1]) == pytest.approx(answer["scores"][index], abs=1e-3)  # what uwo serves
    assert "Members" in browser.find_element(By.ID, "results").text


def test_a_multi_objective_model_shows_every_objective(browser, servers):
    url = servers["multi"]
    score_example(browser, url)
    head = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#objectives thead th")]
    assert head == ["answer", "helpfulness (the reward)", "harmlessness", "honesty"]
    rewards = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#ranking td.score")]
    assert [
        row.find_elements(By.TAG_NAME, "td")[1].text
        for row in browser.find_elements(By.CSS_SELECTOR, "#objectives tbody tr")
    ] == rewards
