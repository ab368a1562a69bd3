"""Dialogue actions' coroutines run on the worker thread: most finish at their first step, run by hand;
one that suspends is carried on by the thread's loop with asyncio's own semantics."""

from __future__ import annotations

import asyncio

import pytest

from bot.dialogue import run_coroutine


async def _answer() -> str:
    return "answered"


async def _asks_for_the_loop() -> bool:
    return asyncio.get_running_loop() is not None


async def _suspends() -> int:
    await asyncio.sleep(0)
    future = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(future.set_result, 41)
    return await future + 1


async def _fails_after_suspending() -> None:
    await asyncio.sleep(0.001)
    raise LookupError("no such order")


def test_an_action_that_never_suspends_returns_its_value() -> None:
    assert run_coroutine(_answer()) == "answered"


def test_an_action_sees_a_running_loop() -> None:
    assert run_coroutine(_asks_for_the_loop()) is True


def test_an_action_that_suspends_is_carried_on_to_its_value() -> None:
    assert run_coroutine(_suspends()) == 42
    assert run_coroutine(_answer()) == "answered"  # the thread's loop is usable again afterwards


def test_an_error_after_suspending_reaches_the_caller() -> None:
    with pytest.raises(LookupError, match="no such order"):
        run_coroutine(_fails_after_suspending())
