"""Where the app's shared objects are built and wired: the one place that knows them all.

AppState holds what is chosen and loaded; the current model (CurrentModel) and the training queue
(TrainQueue) are shared by several pages, so they are built here, handed to the state, and connected
to its signals. Nothing else constructs them: MainWindow, the self-test and the tests all start from
app_state(), and the Runs page gets its session from runs_page().
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnstudio.ui import queue_memory
from cnnstudio.ui.sessions.current_model import CurrentModel
from cnnstudio.ui.sessions.train_queue import TrainQueue
from cnnstudio.ui.state import AppState

if TYPE_CHECKING:  # the page and its widgets are imported when a Runs page is built, not before
    from cnnstudio.ui.pages.runs_page import RunsPage


def app_state() -> AppState:
    """A fresh AppState with its current model and training queue, wired."""
    # The model reads the app's dataset when a load starts: through the state built on the next line
    # (the closure looks `state` up when it is called, never before).
    model = CurrentModel(lambda: state.dataset)
    queue = TrainQueue()
    state = AppState(model, queue)
    model.setParent(state)
    queue.setParent(state)
    # Connected before any page connects, as when the state built them: the model hears of a new
    # checkpoint or dataset first.
    state.checkpointChanged.connect(model.load)
    state.datasetChanged.connect(model.on_dataset_changed)
    # The queue outlives the app: the runs lined up at the last launch come back (the stale ones marked).
    queue_memory.keep(queue)
    return state


def runs_page(state: AppState) -> RunsPage:
    """The Runs page with its session (MainWindow's and the tests' one way to build it)."""
    from cnnstudio.ui.pages.runs_page import RunsPage
    from cnnstudio.ui.sessions.runs_session import RunsSession

    return RunsPage(RunsSession(state))
