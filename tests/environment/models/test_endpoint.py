"""The OpenAI-compatible client against a real HTTP fake: retries, limits, failover, budget,
cache, images. Every request crosses a socket."""

from __future__ import annotations

import asyncio
import io
import itertools
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from environment.config.personas import Behaviour
from environment.config.scenario import OpenAIModelSettings
from environment.core.messages import Message, ModelIncident
from environment.models.endpoint import EndpointModel, RunLink, Stopping, retry_after_seconds
from environment.models.failover import Failover
from environment.models.images import ImageOutsideRun, RunImages
from environment.models.metering import MeteredModel
from environment.models.protocol import (
    BudgetExhausted,
    ChatMessage,
    InspirerInputs,
    ModelCallFailed,
    ModelRequest,
)
from environment.models.response_cache import ResponseCache
from environment.models.secrets import Redactor
from environment.storage.ledger import Ledger
from tests.fakes.openai_server import FakeOpenAI

SECRET = "sk-test-0123456789abcdef"


class Incidents:
    def __init__(self) -> None:
        self.seen: list[ModelIncident] = []

    async def __call__(self, message: Message) -> None:
        assert isinstance(message, ModelIncident)
        self.seen.append(message)


def settings(base_url: str, **extra: Any) -> OpenAIModelSettings:
    values: dict[str, Any] = {
        "kind": "openai",
        "base_url": base_url,
        "model": "fake-1",
        "timeout_s": 1.0,
        "retry_base_s": 0.01,
        "price": {"input_per_mtok": 1.0, "output_per_mtok": 2.0},
    }
    return OpenAIModelSettings.model_validate(values | extra)


def endpoint(
    base_url: str, tmp_path: Path, incidents: Incidents, name: str = "judge", **extra: Any
) -> EndpointModel:
    link = RunLink(publish=incidents, redact=Redactor({SECRET}))
    model_settings = settings(base_url, **extra)
    return EndpointModel(name, model_settings, SECRET, RunImages(tmp_path), link)


def inspire_request(number: int = 0, image: str | None = None) -> ModelRequest:
    prompt = "Propose 3 specific, data-rich topics … and a layout recipe for those tables."
    return ModelRequest(
        agent="cartographer",
        request_id=f"inspire:i{number:05d}",
        messages=(
            ChatMessage(role="system", content="You map topics."),
            ChatMessage(role="user", content=prompt, image=image),
        ),
        inputs=InspirerInputs(inspiration_id=f"i{number:05d}", topics_wanted=3),
        behaviour=Behaviour(),
    )


async def test_every_transient_fault_is_retried_until_an_answer(
    fake: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    server, url = fake
    server.plan_faults(["429", "500", "hang", "malformed", "empty"])
    incidents = Incidents()
    model = endpoint(url, tmp_path, incidents, bench_after_failures=10)
    completion = await model.complete(inspire_request())
    await model.close()
    assert '"topics"' in completion.text
    assert [c.fault for c in server.calls] == ["429", "500", "hang", "malformed", "empty", None]
    assert [i.kind for i in incidents.seen] == ["retry"] * 5
    details = [i.detail for i in incidents.seen]
    assert details[0].startswith("HTTP 429: rate limit exceeded")
    assert "no reply within 1 s" in details[2] and "malformed JSON" in details[3]
    assert completion.prompt_tokens == server.calls[-1].prompt_tokens
    assert completion.cost_usd == pytest.approx(
        (completion.prompt_tokens * 1.0 + completion.completion_tokens * 2.0) / 1e6
    )
    assert all(c.authorization == f"Bearer {SECRET}" for c in server.calls)


async def test_retry_after_sets_the_wait_and_a_long_one_fails_the_call_at_once(
    fake: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    server, url = fake
    server.retry_after = "0.3"
    server.plan_faults(["429"])
    incidents = Incidents()
    model = endpoint(url, tmp_path, incidents)
    await model.complete(inspire_request())
    assert incidents.seen[0].detail.endswith("retry 1/5 in 0.3 s")  # not the 0.01 s backoff
    server.retry_after = "3600"  # a daily quota: waiting inside the call makes no sense
    server.plan_faults(["429"])
    with pytest.raises(ModelCallFailed, match="asks to wait 3600 s"):
        await model.complete(inspire_request(1))
    await model.close()
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert retry_after_seconds("soon") is None


async def test_persistent_failure_gives_up_after_max_retries(
    fake: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    server, url = fake
    server.failing_models["fake-1"] = "500"
    incidents = Incidents()
    model = endpoint(url, tmp_path, incidents, max_retries=2, bench_after_failures=10)
    with pytest.raises(ModelCallFailed, match="gave up after 3 attempts"):
        await model.complete(inspire_request())
    await model.close()
    assert len(server.calls) == 3
    assert [i.kind for i in incidents.seen] == ["retry", "retry", "failed"]


async def test_an_unauthorised_key_is_not_retried_and_never_quoted(
    fake: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    server, url = fake
    server.plan_faults(["401"])
    incidents = Incidents()
    model = endpoint(url, tmp_path, incidents)
    with pytest.raises(ModelCallFailed) as failure:
        await model.complete(inspire_request())
    await model.close()
    assert len(server.calls) == 1
    assert "HTTP 401" in str(failure.value) and "api_key_env" in str(failure.value)
    assert SECRET not in str(failure.value)
    assert all(SECRET not in i.detail for i in incidents.seen)


async def test_a_reply_cut_off_at_max_tokens_is_paid_for_and_not_used(
    fake: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    server, url = fake
    server.plan_faults(["length"])
    ledger = Ledger()
    model = endpoint(url, tmp_path, Incidents())
    metered = MeteredModel(Failover([model], model.link), ledger, "inspirer")
    with pytest.raises(ModelCallFailed, match="cut off at max_tokens"):
        await metered.complete(inspire_request())
    await model.close()
    assert (
        ledger.total_cost_usd == pytest.approx(server.cost_usd(1.0, 2.0))
        and ledger.total_cost_usd > 0
    )
    assert model.health.failures_in_a_row == 1


async def test_concurrency_and_rpm_limits_hold(
    fake: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    server, url = fake
    server.latency_s = 0.3  # long enough that two calls surely overlap on a busy machine
    model = endpoint(url, tmp_path, Incidents(), concurrency=2)
    await asyncio.gather(*(model.complete(inspire_request(n)) for n in range(8)))
    assert server.max_in_flight == 2
    paced = endpoint(url, tmp_path, Incidents(), name="paced", rpm=600)  # one start per 0.1 s
    server.calls.clear()
    server.latency_s = 0.0
    await asyncio.gather(*(paced.complete(inspire_request(n)) for n in range(4)))
    starts = sorted(call.started for call in server.calls)
    # Unpaced, the four would arrive together. Arrival jitters by a few ms, so the bounds
    # leave room: no two within half the interval, the span close to three intervals.
    assert all(later - earlier >= 0.05 for earlier, later in itertools.pairwise(starts))
    assert starts[-1] - starts[0] >= 0.25
    await model.close()
    await paced.close()


async def test_a_tokens_per_minute_limit_is_kept_without_a_single_429(
    fake: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    """Nine concurrent calls, each of ~1,000 tokens at worst, against a provider allowing
    6,000 a minute: without `tpm` five get through and four are refused; with it, they
    wait for the bucket (settled to what each call used) and none is refused."""
    server, url = fake
    server.tpm_limit = 6000
    server.hold_until = 9  # the first replies wait for the whole burst to arrive
    blind = endpoint(
        url, tmp_path, Incidents(), name="blind", max_tokens=1000, max_retries=0, concurrency=9
    )
    tried = await asyncio.gather(
        *(blind.complete(inspire_request(n)) for n in range(9)), return_exceptions=True
    )
    assert server.rate_limited >= 3  # the test could fail: without the bucket, 429s come
    assert sum(isinstance(result, ModelCallFailed) for result in tried) == server.rate_limited
    await blind.close()

    server.rate_limited, server.hold_until = 0, 0
    server._tpm_updated = 0.0  # a full minute again
    careful = endpoint(
        url,
        tmp_path,
        Incidents(),
        name="careful",
        max_tokens=1000,
        tpm=6000,
        max_retries=0,
        concurrency=9,
    )
    done = await asyncio.gather(*(careful.complete(inspire_request(n)) for n in range(9)))
    assert len(done) == 9 and server.rate_limited == 0
    await careful.close()


async def test_a_failing_model_is_benched_and_its_work_goes_to_a_role_mate(
    fake: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    server, url = fake
    server.failing_models["broken-model"] = "500"
    incidents = Incidents()
    broken = endpoint(
        url, tmp_path, incidents, name="broken", model="broken-model", bench_after_failures=2
    )
    healthy = endpoint(url, tmp_path, incidents, name="healthy")
    failover = Failover([broken, healthy], broken.link)
    answered_by = [(await failover.complete(inspire_request(n))).model for n in range(4)]
    await broken.close()
    await healthy.close()
    assert answered_by == ["healthy"] * 4
    assert [c.model for c in server.calls].count("broken-model") == 2  # then it is benched
    benched = [i for i in incidents.seen if i.kind == "benched"]
    assert len(benched) == 1 and "2 failed requests in a row" in benched[0].detail


async def test_budget_refuses_a_call_whose_worst_case_could_pass_the_cap(
    fake: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    server, url = fake
    model = endpoint(url, tmp_path, Incidents(), max_tokens=1000)  # worst case ≈ $0.002
    ledger = Ledger(cap_usd=0.0025)
    metered = MeteredModel(Failover([model], model.link), ledger, "inspirer")
    calls = 0
    with pytest.raises(BudgetExhausted, match="could cost up to"):
        for number in range(50):
            await metered.complete(inspire_request(number))
            calls += 1
    await model.close()
    assert calls == len(server.calls) >= 1
    assert ledger.total_cost_usd <= 0.0025
    assert ledger.total_cost_usd + model.worst_case_usd(inspire_request(99)) > 0.0025


async def test_the_cache_answers_a_repeated_request_without_a_call(
    fake: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    server, url = fake
    cache = ResponseCache(tmp_path / "cache", RunImages(tmp_path))
    ledger = Ledger()
    model = endpoint(url, tmp_path, Incidents())
    failover = Failover([model], model.link)
    metered = MeteredModel(failover, ledger, "inspirer", cache)
    first = await metered.complete(inspire_request())
    again = await metered.complete(inspire_request())
    other = await metered.complete(inspire_request(1))
    await model.close()
    assert len(server.calls) == 2
    assert again.text == first.text and again.cached and not first.cached
    assert not other.cached
    usage = ledger.usage[("judge", "inspirer")]
    assert (usage.calls, usage.cached_calls) == (2, 1)


async def test_a_vision_model_receives_the_rendered_png(
    fake: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    server, url = fake
    (tmp_path / "images").mkdir()
    picture = io.BytesIO()
    Image.new("RGB", (40, 20), "white").save(picture, format="PNG")
    (tmp_path / "images" / "t.png").write_bytes(picture.getvalue())
    seeing = endpoint(url, tmp_path, Incidents(), vision=True)
    blind = endpoint(url, tmp_path, Incidents(), name="blind")
    await seeing.complete(inspire_request(image="images/t.png"))
    await blind.complete(inspire_request(image="images/t.png"))
    with pytest.raises(ModelCallFailed, match="outside the run folder"):
        await seeing.complete(inspire_request(image="../../etc/passwd"))
    await seeing.close()
    await blind.close()
    assert [c.images for c in server.calls] == [1, 0]


async def test_a_lone_benched_model_is_waited_for_not_given_up(
    fake: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    server, url = fake
    server.plan_faults(["500", "500"])
    incidents = Incidents()
    model = endpoint(url, tmp_path, incidents, bench_after_failures=2, cooldown_s=0.2)
    completion = await Failover([model], model.link).complete(inspire_request())
    await model.close()
    assert '"topics"' in completion.text
    assert [i.kind for i in incidents.seen] == ["retry", "benched", "retry", "restored"]
    assert [c.fault for c in server.calls] == ["500", "500", None]


async def test_a_model_benched_again_and_again_is_down_and_fails_at_once(
    fake: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    server, url = fake
    server.failing_models["fake-1"] = "500"
    incidents = Incidents()
    model = endpoint(
        url, tmp_path, incidents, max_retries=0, bench_after_failures=1, cooldown_s=0.01
    )
    failover = Failover([model], model.link)
    reasons = []
    for number in range(7):
        with pytest.raises(ModelCallFailed) as failure:
            await failover.complete(inspire_request(number))
        reasons.append(str(failure.value))
    await model.close()
    assert len(server.calls) == 5  # DOWN_AFTER_BENCHES: then no request at all
    assert reasons[-1].endswith("every model of this role is down for this run")
    assert "down for this run" in [i for i in incidents.seen if i.kind == "benched"][-1].detail


async def test_reasoning_model_settings_shape_the_request_body(
    fake: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    server, url = fake
    model = endpoint(
        url,
        tmp_path,
        Incidents(),
        temperature=None,
        max_tokens_param="max_completion_tokens",
        extra_body={"reasoning_effort": "low", "provider": {"sort": "price"}},
    )
    await model.complete(inspire_request())
    await model.close()
    body = server.calls[0].body
    assert "temperature" not in body and "max_tokens" not in body
    assert body["max_completion_tokens"] == 4000
    assert body["reasoning_effort"] == "low" and body["provider"] == {"sort": "price"}
    with pytest.raises(ValueError, match="extra_body cannot set messages, model"):
        settings(url, extra_body={"model": "other", "messages": []})


async def test_rate_limits_back_off_without_benching(
    fake: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    server, url = fake
    server.retry_after = ""  # a 429 with no Retry-After: exponential backoff
    server.plan_faults(["429", "429", "429"])
    incidents = Incidents()
    model = endpoint(url, tmp_path, incidents, bench_after_failures=2)
    await model.complete(inspire_request())
    await model.close()
    assert [i.kind for i in incidents.seen] == ["retry"] * 3
    assert not model.health.benched and model.health.failures_in_a_row == 0


class WatchedLink(RunLink):
    """A real RunLink that also says when a call starts a long wait."""

    def __init__(self) -> None:
        super().__init__()
        self.long_wait = asyncio.Event()

    async def pause(self, seconds: float) -> None:
        if seconds > 1:
            self.long_wait.set()
        await super().pause(seconds)


async def test_a_stopping_run_ends_a_long_rate_limit_wait_at_once(
    fake: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    server, url = fake
    link = WatchedLink()
    model = EndpointModel(
        "judge", settings(url, rpm=1), None, RunImages(tmp_path), link
    )  # call starts 60 s apart
    await model.complete(inspire_request(0))
    waiting = asyncio.create_task(model.complete(inspire_request(1)))
    await link.long_wait.wait()  # the second call now waits its turn, a minute away
    link.stop()
    with pytest.raises(Stopping):
        await asyncio.wait_for(waiting, timeout=10)  # a guard, not a synchronisation
    await model.close()
    assert len(server.calls) == 1
    assert model.health.failures_in_a_row == 0  # stopping is not the model's fault


async def test_a_table_image_is_read_once_until_it_changes(tmp_path: Path) -> None:
    images = RunImages(tmp_path)
    (tmp_path / "images").mkdir()
    png = tmp_path / "images" / "t.png"
    png.write_bytes(b"\x89PNG first")
    first = await images.digest("images/t.png")
    stamp = png.stat()
    png.write_bytes(b"\x89PNG other")  # same size; put the old mtime back
    os.utime(png, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert await images.digest("images/t.png") == first  # served from memory
    os.utime(png, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000))
    assert await images.digest("images/t.png") != first  # a re-render is noticed
    assert (await images.data_url("images/t.png")).startswith("data:image/png;base64,")
    with pytest.raises(ImageOutsideRun):
        await images.digest("../escape.png")


async def test_calls_wait_for_the_request_count_the_headers_say_is_used_up(
    fake: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    """Two requests per 2-s window: the provider refuses a third inside the window (shown
    first, by hand), so a client that did not read x-ratelimit-remaining-requests would
    fail with max_retries 0; reading it, the third waits for the reset instead."""
    server, url = fake
    server.requests_per_window, server.requests_window_s = 2, 2.0
    async with aiohttp.ClientSession() as session:
        statuses = []
        for _ in range(3):
            async with session.post(
                url + "/chat/completions",
                json={"model": "fake-1", "messages": [{"role": "user", "content": "hi"}]},
            ) as response:
                statuses.append(response.status)
    assert statuses == [200, 200, 429]
    server.requests_refused, server._window_started = 0, -1e9
    model = endpoint(url, tmp_path, Incidents(), max_retries=0, concurrency=1)
    started = time.monotonic()
    for number in range(3):
        await model.complete(inspire_request(number))
    assert server.requests_refused == 0
    assert time.monotonic() - started >= 1.5  # the third waited for the window to reset
    await model.close()
