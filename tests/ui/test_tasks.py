"""The one background mechanism (ui/tasks.py): latest-only runners and one-off tasks on a shared pool."""

from __future__ import annotations

import threading

from cnnstudio.ui.tasks import Failure, LatestRunner, run_in_background


def test_a_newer_submission_replaces_the_pending_one_and_drops_the_stale_result(qtbot):
    runner = LatestRunner()
    gate = threading.Event()
    ran, delivered = [], []

    def call(n):
        def work():
            ran.append(n)
            if n == 1:
                gate.wait(5)
            return n
        return work

    runner.submit(call(1), delivered.append)  # in flight, held at the gate
    runner.submit(call(2), delivered.append)  # pending
    runner.submit(call(3), delivered.append)  # replaces 2: 2 never runs
    gate.set()
    qtbot.waitUntil(lambda: not runner.busy and 3 in ran, timeout=5000)
    qtbot.wait(20)
    assert ran == [1, 3]
    assert delivered == [3]  # 1 was superseded while in flight: dropped


def test_without_supersede_each_answer_is_shown_as_it_comes(qtbot):
    """The drawing's mode: the stroke in flight still answers; the newest pending stroke runs next."""
    runner = LatestRunner()
    gate = threading.Event()
    delivered = []
    runner.submit(lambda: (gate.wait(5), "first")[1], delivered.append, supersede=False)
    runner.submit(lambda: "second", delivered.append, supersede=False)
    runner.submit(lambda: "third", delivered.append, supersede=False)
    gate.set()
    qtbot.waitUntil(lambda: delivered == ["first", "third"], timeout=5000)


def test_discard_drops_the_in_flight_result(qtbot):
    runner = LatestRunner()
    gate = threading.Event()
    delivered = []
    runner.submit(lambda: (gate.wait(5), 1)[1], delivered.append, supersede=False)
    runner.discard()  # the model changed: whatever was asked of the old one is stale
    gate.set()
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
    qtbot.wait(20)
    assert delivered == []


def test_errors_arrive_typed_and_bugs_keep_their_traceback(qtbot):
    from cnnstudio.core.errors import CNNStudioError

    runner = LatestRunner()
    failures: list[Failure] = []

    def refuse():
        raise CNNStudioError("that file is not a checkpoint")

    runner.submit(refuse, on_error=failures.append)
    qtbot.waitUntil(lambda: len(failures) == 1, timeout=5000)
    assert failures[0] == Failure("that file is not a checkpoint", "")
    runner.submit(lambda: 1 / 0, on_error=failures.append)
    qtbot.waitUntil(lambda: len(failures) == 2, timeout=5000)
    assert failures[1].message.startswith("ZeroDivisionError") and "Traceback" in failures[1].details


def test_calls_share_a_small_pool_of_reused_threads(qtbot):
    names = []
    tasks = [run_in_background(lambda: names.append(threading.current_thread().name)) for _ in range(20)]
    for task in tasks:
        assert task.wait(5000)
    assert len(names) == 20 and len(set(names)) <= 2
    assert all(name.startswith("cnnstudio-task") for name in names)


def test_progress_is_emitted_only_when_it_changes(qtbot):
    seen = []

    def work(report, is_cancelled):
        for value in (1, 1, 1, 2, 2, 3):
            report(value)
        return "ok"

    task = run_in_background(work, on_progress=seen.append)
    with qtbot.waitSignal(task.finished, timeout=5000):
        pass
    assert seen == [1, 2, 3]


def test_a_closed_runner_delivers_nothing(qtbot):
    runner = LatestRunner()
    gate = threading.Event()
    delivered = []
    runner.submit(lambda: (gate.wait(5), 1)[1], delivered.append)
    runner.close()
    runner.submit(lambda: 2, delivered.append)
    gate.set()
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
    qtbot.wait(20)
    assert delivered == []


def test_a_runner_deleted_with_its_owner_delivers_nothing_and_raises_nothing(qtbot):
    """The owner (a session) is deleted while the call runs: its result must not reach the deleted owner's
    signals (this raised "Signal source has been deleted" in the Qt event loop)."""
    from PySide6.QtCore import QObject, Signal

    class Owner(QObject):
        done = Signal(int)

        def __init__(self):
            super().__init__()
            self.runner = LatestRunner(self)

    owner = Owner()
    gate = threading.Event()
    finished = threading.Event()

    def work():
        gate.wait(5)
        finished.set()
        return 1

    owner.runner.submit(work, owner.done.emit)
    runner = owner.runner
    shiboken6 = __import__("shiboken6")
    owner.deleteLater()
    qtbot.waitUntil(lambda: not shiboken6.isValid(runner), timeout=5000)
    gate.set()
    assert finished.wait(5)
    qtbot.wait(50)  # the result's delivery runs here: pytest-qt fails the test on an exception in the loop
