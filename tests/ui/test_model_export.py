"""The app's "Export model…" and "Classify a folder…": their sessions without widgets, then the dialogs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TIMEOUT = 120_000


def write_class_folders(root: Path, dataset, per_class: int = 12) -> int:
    """The first test images of each class as PNG files, one subfolder per class name."""
    images, labels = dataset.test_images.numpy(), dataset.test_labels.numpy()
    n = 0
    for k, name in enumerate(dataset.classes):
        (root / name).mkdir(parents=True)
        for j, i in enumerate(np.flatnonzero(labels == k)[:per_class]):
            Image.fromarray(images[i, 0]).save(root / name / f"{j}.png")
            n += 1
    return n


# -- sessions --------------------------------------------------------------------------------------
def test_export_session_exports_in_the_background_and_reports_progress(qtbot, shapes_state, shapes_checkpoint,
                                                                       tmp_path):
    from cnnstudio.ui.sessions.export_session import ExportRequest, ExportSession

    session = ExportSession(shapes_state)
    steps = []
    session.progress.connect(lambda fraction, text: steps.append((fraction, text)))
    request = ExportRequest(shapes_checkpoint, str(tmp_path / "m.onnx"), "onnx")
    with qtbot.waitSignal(session.finished, timeout=TIMEOUT) as done:
        assert session.start(request)
        assert not session.start(request)  # one at a time
    result = done.args[0]
    assert result.ok and Path(result.path).is_file()
    assert result.parity.source == "test images of Shapes"  # the app's dataset, not a second copy
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(steps) >= 5


def test_cancelling_an_export_writes_nothing(qtbot, shapes_state, shapes_checkpoint, tmp_path):
    from cnnstudio.ui.sessions.export_session import ExportRequest, ExportSession

    session = ExportSession(shapes_state)
    session.progress.connect(lambda fraction, text: session.cancel() if "writing" in text else None)
    with qtbot.waitSignal(session.cancelled, timeout=TIMEOUT):
        session.start(ExportRequest(shapes_checkpoint, str(tmp_path / "out" / "m.onnx"), "onnx"))
    assert not (tmp_path / "out" / "m.onnx").exists()
    assert session.result is None


def test_classify_session_stop_keeps_what_is_done(qtbot, shapes_dataset, shapes_checkpoint, tmp_path):
    from cnnstudio.core.inference import Predictor
    from cnnstudio.ui.sessions.classify_session import ClassifySession

    total = write_class_folders(tmp_path / "pics", shapes_dataset, per_class=40)
    session = ClassifySession()
    session.progress.connect(lambda done, n: session.cancel() if done >= 50 else None)
    with qtbot.waitSignal(session.finished, timeout=TIMEOUT) as finished:
        session.start(Predictor(shapes_checkpoint), str(tmp_path / "pics"))
    result = finished.args[0]
    assert result.cancelled and 50 <= len(result.results) < total
    assert result.accuracy is not None


# -- dialogs ---------------------------------------------------------------------------------------
@pytest.fixture
def evaluate_page(qtbot, shapes_state, shapes_checkpoint):
    from cnnstudio.ui.pages.evaluate_page import EvaluatePage

    page = EvaluatePage(shapes_state)
    qtbot.addWidget(page)
    page.resize(1100, 760)
    page.show()
    with qtbot.waitSignal(page.evaluationReady, timeout=TIMEOUT):
        page.set_checkpoint(shapes_checkpoint)
    yield page
    page.shutdown()


def test_export_dialog_shows_the_parity_figures_and_int8(qtbot, evaluate_page, shapes_checkpoint, tmp_path):
    dialog = evaluate_page.export_model_dialog()
    qtbot.waitExposed(dialog)
    assert dialog.out_edit.text() == str(Path(shapes_checkpoint).with_suffix(".onnx"))
    dialog.torchscript_radio.setChecked(True)
    assert not dialog.int8_check.isEnabled() and dialog.out_edit.text().endswith(".torchscript.pt")
    dialog.onnx_radio.setChecked(True)
    dialog.int8_check.setChecked(True)
    dialog.bundle_check.setChecked(True)
    assert dialog.out_edit.text().endswith(".int8.onnx")
    dialog.out_edit.setText(str(tmp_path / "shapes.int8.onnx"))
    with qtbot.waitSignal(dialog.session.finished, timeout=TIMEOUT):
        dialog.export_button.click()
    text = dialog.status.text()
    # The figures are the INT8 file's own (run through onnxruntime), not the fp32 graph's 100 %.
    parity = dialog.export_result.parity
    assert "Exported shapes.int8.onnx" in text and f"top-1 agreement with PyTorch {parity.agreement:.2%}" in text
    assert "INT8: accuracy" in text and "test images" in text
    assert "Predictor folder: " + str(tmp_path / "shapes-predictor") in text
    assert (tmp_path / "shapes-predictor" / "predict.py").is_file()
    assert dialog.open_button.isVisible() and dialog.close_button.isVisible()
    # Every line of the result is on screen: the dialog grew with it.
    assert dialog.status.geometry().bottom() <= dialog.buttons.geometry().top()
    assert dialog.status.height() >= dialog.status.heightForWidth(dialog.status.width())
    dialog.grab().save(str(tmp_path / "export-dialog.png"))
    dialog.accept()


def test_export_dialog_writes_the_web_page_and_shows_the_deployment_report(qtbot, evaluate_page, shapes_checkpoint,
                                                                           tmp_path):
    dialog = evaluate_page.export_model_dialog()
    qtbot.waitExposed(dialog)
    dialog.web_radio.setChecked(True)
    assert not dialog.int8_check.isEnabled() and not dialog.bundle_check.isEnabled()
    assert dialog.out_edit.text() == str(Path(shapes_checkpoint).with_name("best-web"))
    assert dialog.request().format == "web"
    dialog.out_edit.setText(str(tmp_path / "page"))
    assert not dialog.report_view.isVisible()
    with qtbot.waitSignal(dialog.session.finished, timeout=TIMEOUT):
        dialog.export_button.click()
    result = dialog.export_result
    assert result.ok and (tmp_path / "page" / "index.html").is_file()
    assert "python -m http.server" in dialog.status.text() and "model-card.md" in dialog.status.text()
    # The report's rows as measured: PyTorch and the page's model.onnx, with their figures.
    view = dialog.report_view
    assert view.isVisible() and view.table.rowCount() == 2
    assert [view.table.item(i, 0).text() for i in range(2)] == ["PyTorch", "Web page (model.onnx)"]
    web = result.report.row("web")
    assert view.table.item(1, 6).text() == f"{web.agreement:.2%}" and view.table.item(1, 2).text() != "-"
    assert f"{result.report.parameters:,} parameters" in view.summary.text()
    assert dialog.status.geometry().bottom() <= dialog.buttons.geometry().top()
    dialog.accept()


def test_a_failed_check_is_shown_as_a_failure(qtbot, evaluate_page, tmp_path, monkeypatch):
    from cnnstudio.core.export import onnx_file

    real = onnx_file.run_onnx
    monkeypatch.setattr(onnx_file, "run_onnx", lambda s, x, batch=256: -real(s, x, batch))
    dialog = evaluate_page.export_model_dialog()
    dialog.out_edit.setText(str(tmp_path / "m.onnx"))
    with qtbot.waitSignal(dialog.session.finished, timeout=TIMEOUT):
        dialog.start()
    assert "FAILED" in dialog.status.text() and "nothing was written" in dialog.status.text()
    assert not (tmp_path / "m.onnx").exists()
    assert "c0392b" in dialog.status.styleSheet()
    dialog.reject()


def test_classify_dialog_table_csv_and_evaluate(qtbot, evaluate_page, shapes_dataset, tmp_path):
    from PySide6.QtCore import Qt

    total = write_class_folders(tmp_path / "pics", shapes_dataset)
    (tmp_path / "pics" / "circle" / "broken.png").write_bytes(b"nope")
    page = evaluate_page
    dialog = page.classify_folder_dialog()
    qtbot.waitExposed(dialog)
    with qtbot.waitSignal(dialog.session.finished, timeout=TIMEOUT):
        assert dialog.start(str(tmp_path / "pics"))
    result = dialog.session.result
    assert dialog.proxy.rowCount() == total == len(result.results)
    assert f"{total} images classified; 1 skipped" in dialog.summary.text()
    assert "accuracy" in dialog.summary.text() and "circle/broken.png" in dialog.skipped_label.text()
    # Thumbnails of what the model saw; sorting by confidence puts the least sure first.
    assert dialog.proxy.index(0, 0).data(Qt.ItemDataRole.DecorationRole) is not None
    dialog.table.sortByColumn(3, Qt.SortOrder.AscendingOrder)
    shown = [float(dialog.proxy.index(r, 3).data().rstrip("%")) for r in range(dialog.proxy.rowCount())]
    assert shown == sorted(shown)
    dialog.mistakes_check.setChecked(True)
    visible = [r for r in range(dialog.proxy.rowCount()) if not dialog.table.isRowHidden(r)]
    assert len(visible) == sum(r.correct is False for r in result.results)
    dialog.mistakes_check.setChecked(False)
    dialog.save_csv(tmp_path / "table.csv")
    assert len((tmp_path / "table.csv").read_text().strip().splitlines()) == total + 2  # header + skipped
    dialog.grab().save(str(tmp_path / "classify-dialog.png"))

    # On the Evaluate page: the folder's confusion matrix, named as the folder, and no Inspect link.
    with qtbot.waitSignal(page.evaluationReady, timeout=TIMEOUT):
        dialog.evaluate_button.click()
    assert page.source == "the folder pics"
    assert page.evaluation.accuracy == pytest.approx(result.accuracy)
    assert len(page.evaluation.labels) == total
    assert f"Classified {total} images of the folder pics" in page.model_label.text()
    with qtbot.assertNotEmitted(page.inspectRequested):
        page.open_in_inspect(0)
    # "Evaluate again" returns to the test set.
    with qtbot.waitSignal(page.evaluationReady, timeout=TIMEOUT):
        page.reevaluate()
    assert page.source == "" and len(page.evaluation.labels) == len(shapes_dataset.test_labels)


def test_the_evaluate_page_with_its_model_menu_still_fits_a_1024_window(qtbot, shapes_checkpoint):
    """Two more buttons in Evaluate's header widened the window to 1,108 px: they live in one menu."""
    from cnnstudio.ui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(1024, 700)
    window.show()
    page = window.page("evaluate")
    with qtbot.waitSignal(page.evaluationReady, timeout=TIMEOUT):
        window.state.set_checkpoint(shapes_checkpoint)
        window.show_page("evaluate")
    qtbot.wait(50)
    assert window.width() == 1024
    actions = [a.text() for a in page.model_button.menu().actions() if a.text()]
    assert actions == ["Evaluate again", "Export model (ONNX, INT8, TorchScript)…", "Classify a folder…"]
    window.close()
