"""The juror's grid tools on tables with merged cells, grouped headers and totals rows."""

from __future__ import annotations

import json

import pytest
from autogen_core import CancellationToken

from agents.grid_tools import GridTools, as_agent_tools, calculate, round_number
from renderers.grid import GridCell


def cell(row: int, col: int, text: str, rowspan: int = 1, colspan: int = 1) -> GridCell:
    return GridCell(row=row, col=col, text=text, rowspan=rowspan, colspan=colspan)


# Region is merged over its stores; the header groups two years under "Sales"; a totals row
# spans the first two columns.
GROUPED = [
    cell(0, 0, "Region", rowspan=2),
    cell(0, 1, "Store", rowspan=2),
    cell(0, 2, "Sales", colspan=2),
    cell(1, 2, "2023"),
    cell(1, 3, "2024"),
    cell(2, 0, "North", rowspan=2),
    cell(2, 1, "Alder St"),
    cell(2, 2, "1,200"),
    cell(2, 3, "1,350"),
    cell(3, 1, "Birch Rd"),
    cell(3, 2, "800"),
    cell(3, 3, "760"),
    cell(4, 0, "South"),
    cell(4, 1, "Cedar Ave"),
    cell(4, 2, "−150"),
    cell(4, 3, "40%"),
    cell(5, 0, "Total", colspan=2),
    cell(5, 2, "1,850"),
    cell(5, 3, "2,150"),
]


def test_grouped_headers_are_joined_and_merged_labels_fill_their_rows() -> None:
    tools = GridTools(GROUPED)
    outline = tools.table_outline()
    assert outline["columns"] == ["Region", "Store", "Sales 2023", "Sales 2024"]
    assert outline["rows"] == ["North / Alder St", "North / Birch Rd", "South / Cedar Ave", "Total"]
    assert tools.read_cell("Birch Rd", "Sales 2023") == {
        "row": "North / Birch Rd",
        "column": "Sales 2023",
        "text": "800",
        "number": 800.0,
    }
    assert tools.read_cell("Cedar Ave", "2023")["number"] == -150.0  # a typographic minus
    assert tools.read_cell("Total", "2024")["number"] == 2150.0  # the totals row is readable


def test_column_values_leave_out_totals_and_filter_on_a_merged_label() -> None:
    tools = GridTools(GROUPED)
    everything = tools.column_values("Sales 2024")
    assert [value["number"] for value in everything] == [1350.0, 760.0, 40.0]
    north = tools.column_values("sales 2023", where_column="Region", equals="north")
    assert [value["row"] for value in north] == ["North / Alder St", "North / Birch Rd"]
    assert calculate("sum", [value["number"] for value in north]) == 2000.0
    assert [row["Store"] for row in tools.find_row("North")] == ["Alder St", "Birch Rd"]


def test_a_lookup_that_cannot_be_answered_says_what_there_is() -> None:
    tools = GridTools(GROUPED)
    with pytest.raises(ValueError, match="matches no column; the columns are: Region; Store"):
        tools.column_values("Profit")
    with pytest.raises(ValueError, match="matches several columns"):
        tools.read_cell("Alder St", "Sales")
    with pytest.raises(ValueError, match="no row matches 'West'; the rows are: North / Alder"):
        tools.read_cell("West", "Store")
    with pytest.raises(ValueError, match="'North' matches 2 rows"):
        tools.read_cell("North", "Store")
    with pytest.raises(ValueError, match="where_column needs equals"):
        tools.column_values("Store", where_column="Region")


def test_calculations_and_rounding_as_people_do_them() -> None:
    assert calculate("mean", [1, 2, 4]) == pytest.approx(7 / 3)
    assert calculate("Percent change", [80, 100]) == pytest.approx(25.0)
    assert calculate("difference", [5, 8]) == -3
    assert calculate("ratio", [9, 3]) == 3
    assert calculate("count", []) == 0
    assert (calculate("min", [3, -1]), calculate("max", [3, -1])) == (-1, 3)
    assert round_number(2.675, 2) == 2.68  # binary floats would give 2.67
    assert round_number(-0.125, 2) == -0.13
    for operation, values, problem in [
        ("ratio", [1, 0], "divide by zero"),
        ("difference", [1, 2, 3], "exactly two values"),
        ("median", [1], "unknown operation"),
        ("sum", [], "at least one value"),
    ]:
        with pytest.raises(ValueError, match=problem):
            calculate(operation, values)


async def test_as_agent_tools_they_answer_in_json_and_errors_are_raised() -> None:
    tools = {tool.name: tool for tool in as_agent_tools(GROUPED)}  # type: ignore[union-attr]
    token = CancellationToken()
    read = await tools["read_cell"].run_json({"row": "Birch Rd", "column": "2024"}, token)
    assert json.loads(tools["read_cell"].return_value_as_string(read))["number"] == 760.0
    values = await tools["column_values"].run_json(
        {"column": "2023", "where_column": "Region", "equals": "South"}, token
    )
    assert json.loads(str(values))[0]["text"] == "−150"
    assert tools["compute"].schema["parameters"]["required"] == ["operation", "values"]
    with pytest.raises(ValueError, match="matches no column"):
        await tools["read_cell"].run_json({"row": "Birch Rd", "column": "Cost"}, token)
