"""Our model seam as an AutoGen ChatCompletionClient: an AgentChat assistant with the grid
tools, thinking with an endpoint model over real HTTP (the fake server asks for tools), and
with a simulated model offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import Response
from autogen_agentchat.messages import TextMessage
from autogen_core import CancellationToken

from agents.grid_tools import as_agent_tools
from agents.juror import VERDICT_SCHEMA, build_prompt, parse_verdict, tool_uses
from environment.config.personas import Behaviour
from environment.models.autogen_client import SeamClient
from environment.models.endpoint import calls_written_as_text
from environment.models.failover import Failover
from environment.models.metering import MeteredModel
from environment.models.protocol import ChatModel, JurorInputs, ModelCallFailed
from environment.simulation.model import SimulatedModel
from environment.simulation.oracle import Oracle
from environment.simulation.reasoning import QuestionSpec
from environment.storage.ledger import Ledger
from renderers.grid import GridCell
from tests.environment.models.test_endpoint import Incidents, endpoint, inspire_request
from tests.fakes.openai_server import FakeOpenAI

LATEX = r"""\begin{tabular}{lrr}
\toprule
Species & Height (m) & Plots \\
\midrule
Alder & 12 & 4 \\
Birch & 20 & 7 \\
Cedar & 31 & 2 \\
\bottomrule
\end{tabular}"""


def cell(row: int, col: int, text: str) -> GridCell:
    return GridCell(row=row, col=col, text=text)


GRID = tuple(
    cell(r, c, text)
    for r, line in enumerate(
        [
            ["Species", "Height (m)", "Plots"],
            ["Alder", "12", "4"],
            ["Birch", "20", "7"],
            ["Cedar", "31", "2"],
        ]
    )
    for c, text in enumerate(line)
)


def inputs(question: str, answer: str) -> JurorInputs:
    return JurorInputs(
        qa_id="t0-q0",
        table_id="t0",
        topic="Trees",
        latex=LATEX,
        grid=GRID,
        question=question,
        answer=answer,
        reasoning="",
    )


async def vote(
    model: ChatModel, question: str, answer: str, rounds: int
) -> tuple[SeamClient, Response]:
    asked = inputs(question, answer)
    client = SeamClient(
        model,
        agent="checker",
        request_id="judge:t0-q0",
        inputs=asked,
        behaviour=Behaviour(false_accept=0.0, false_reject=0.0),
        schema=VERDICT_SCHEMA,
    )
    assistant = AssistantAgent(
        "checker",
        model_client=client,
        tools=as_agent_tools(GRID),
        system_message="You check answers about tables with tools.",
        reflect_on_tool_use=True,
        max_tool_iterations=rounds,
    )
    response = await assistant.on_messages(
        [TextMessage(content=build_prompt(asked), source="curator")], CancellationToken()
    )
    return client, response


async def test_tools_go_out_as_openai_tools_and_their_results_come_back(
    fake: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    server, url = fake
    model = endpoint(url, tmp_path, Incidents())
    client, response = await vote(model, "What is the total Plots over all rows?", "13", 3)
    await model.close()
    first, second = server.calls
    offered = {tool["function"]["name"] for tool in first.body["tools"]}
    assert offered == {
        "table_outline",
        "find_row",
        "read_cell",
        "column_values",
        "compute",
        "round_to",
    }
    assert "response_format" not in first.body  # a schema would forbid the tool call
    assert first.body["tool_choice"] == "required"  # a checker must look at least once
    assert first.tool_calls[0]["function"] == {
        "name": "column_values",
        "arguments": '{"column": "Plots"}',
    }
    # The tool ran on the grid, and its result went back as a tool turn.
    values = json.loads(second.tool_results[0])
    assert [v["number"] for v in values] == [4.0, 7.0, 2.0]
    # Still offered tools, the model voted instead: the loop ends there, without a schema
    # (constrained to one, a model could not have called a tool).
    assert second.body["tools"] and "response_format" not in second.body
    assert "tool_choice" not in second.body  # having looked, it may vote
    used = tool_uses(response.inner_messages or [])
    assert [(u.name, u.is_error) for u in used] == [("column_values", False)]
    assert parse_verdict(response.chat_message.to_text()).accept is True
    assert len(client.completions) == 2 and client.total_usage().prompt_tokens > 0


async def test_malformed_tool_arguments_become_an_error_result_not_a_crash(
    fake: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    server, url = fake
    server.plan_faults(["bad-tool-args"])
    model = endpoint(url, tmp_path, Incidents())
    _, response = await vote(model, "What is the total Plots over all rows?", "13", 2)
    await model.close()
    used = tool_uses(response.inner_messages or [])
    assert used[0].is_error and used[0].arguments == '{"column": '
    assert "Error" in server.calls[1].tool_results[0]  # the model was told
    assert parse_verdict(response.chat_message.to_text()).accept is True


async def test_a_model_looping_on_tools_is_cut_off_after_its_rounds(
    fake: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    server, url = fake
    server.failing_models["fake-1"] = "tool-loop"
    model = endpoint(url, tmp_path, Incidents())
    _, response = await vote(model, "What is the total Plots over all rows?", "14", 3)
    await model.close()
    assert [bool(c.body.get("tools")) for c in server.calls] == [True, True, True, False]
    assert len(tool_uses(response.inner_messages or [])) == 3
    assert parse_verdict(response.chat_message.to_text()).accept is False  # 13, not 14


async def test_an_endpoint_without_tools_is_a_clear_error(
    fake: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    server, url = fake
    server.refuses_tools = True
    model = endpoint(url, tmp_path, Incidents())
    with pytest.raises(ModelCallFailed, match="refuses tool calls; set `tool_calling: false`"):
        await vote(model, "What is the total Plots over all rows?", "13", 2)
    await model.close()
    assert len(server.calls) == 1  # a refusal is not retried


async def test_a_simulated_model_checks_with_the_tools_before_voting() -> None:
    oracle = Oracle()
    question = "What is the Plots of Birch?"
    oracle.register("t0", question, QuestionSpec("lookup", column=2, first="Birch"))
    model = SimulatedModel("sim", skill=0.6, seed=3, oracle=oracle)
    client, response = await vote(model, question, "7", 3)
    used = tool_uses(response.inner_messages or [])
    assert [(u.name, json.loads(u.arguments)) for u in used] == [
        ("read_cell", {"row": "Birch", "column": "Plots"})
    ]
    assert json.loads(used[0].result)["number"] == 7.0
    assert parse_verdict(response.chat_message.to_text()).accept is True
    assert [c.tool_calls != () for c in client.completions] == [True, False]


def test_tool_calls_a_small_model_writes_into_its_text_are_recovered() -> None:
    offered = {"read_cell", "column_values"}
    fenced = '```json\n{"name": "column_values", "arguments": {"column": "Plots"}}\n```'
    tagged = '<tool_call>\n{"name": "read_cell", "arguments": {"row": "Birch", "column": "Plots"}}'
    listed = '[{"name": "read_cell", "parameters": {"row": "A", "column": "B"}}]'
    assert [(c.name, json.loads(c.arguments)) for c in calls_written_as_text(fenced, offered)] == [
        ("column_values", {"column": "Plots"})
    ]
    assert calls_written_as_text(tagged, offered)[0].name == "read_cell"  # unclosed tag
    assert json.loads(calls_written_as_text(listed, offered)[0].arguments) == {
        "row": "A",
        "column": "B",
    }
    verdict = '{"verdict": "accept", "failed_criterion": null, "rationale": "ok"}'
    assert calls_written_as_text(verdict, offered) == ()
    assert calls_written_as_text('{"name": "delete_all", "arguments": {}}', offered) == ()


async def test_a_call_written_into_the_text_runs_even_when_the_reply_was_cut_off(
    fake: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    server, url = fake
    server.plan_faults(["written-tool-call"])
    model = endpoint(url, tmp_path, Incidents())
    ledger = Ledger()
    metered = MeteredModel(Failover([model], model.link), ledger, "juror")
    _, response = await vote(metered, "What is the total Plots over all rows?", "13", 2)
    await model.close()
    assert server.calls[0].body["tool_choice"] == "required"
    assert model.health.failures_in_a_row == 0  # cut off after its call: not a failure
    assert sum(usage.calls for usage in ledger.usage.values()) == 2
    used = tool_uses(response.inner_messages or [])
    assert [(u.name, u.arguments, u.is_error) for u in used] == [
        ("column_values", '{"column": "Plots"}', False)
    ]
    assert [v["number"] for v in json.loads(server.calls[1].tool_results[0])] == [4.0, 7.0, 2.0]
    assert parse_verdict(response.chat_message.to_text()).accept is True


async def test_a_verdict_followed_by_blank_lines_to_max_tokens_is_not_cut_off(
    fake: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    server, url = fake
    server.plan_faults(["written-tool-call", "blank-tail"])
    model = endpoint(url, tmp_path, Incidents())
    metered = MeteredModel(Failover([model], model.link), Ledger(), "juror")
    _, response = await vote(metered, "What is the total Plots over all rows?", "12", 2)
    await model.close()
    assert server.calls[1].fault == "blank-tail"
    assert parse_verdict(response.chat_message.to_text()).accept is False  # 13, not 12
    assert model.health.failures_in_a_row == 0
    # A reply with no JSON schema (free text, LaTeX) cut in blank lines stays cut off.
    server.plan_faults(["blank-tail"])
    with pytest.raises(ModelCallFailed, match="cut off at max_tokens"):
        await MeteredModel(Failover([model], model.link), Ledger(), "inspirer").complete(
            inspire_request()
        )
    await model.close()
