"""The parameter form of one layer, built from its LayerType's ParamSpecs (no hand-written forms).

int -> QSpinBox, float -> QDoubleSpinBox, bool -> QCheckBox, choice -> QComboBox. An `optional`
parameter (None means something, e.g. pooling stride = window size) gets one extra spin-box value
below its minimum that reads as that meaning. A parameter with the special value "classes" (a
Linear's out) gets a checkbox "= number of classes" that disables the number.

The form emits paramChanged(name, value) with spec-ready values; the page owns the spec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel,
                               QSpinBox, QVBoxLayout, QWidget)

from cnnstudio.core.models.layer_types import CLASSES, LAYER_TYPES, ParamSpec

if TYPE_CHECKING:
    from cnnstudio.core.models.spec import LayerDict

INT_MAX = 100_000  # no layer parameter sensibly goes beyond; keeps typing a stray zero harmless
FLOAT_MAX = 100.0


def _optional_text(p: ParamSpec) -> str:
    """What None means for an optional parameter, as the spin box shows it."""
    if p.name == "stride":
        return "= window size"
    if p.name == "in":
        return "not checked"
    return "auto"


class LayerForm(QWidget):
    paramChanged = Signal(str, object)  # parameter name, new value (None / "classes" / number / ...)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.heading = QLabel()
        self.heading.setStyleSheet("font-weight: 600;")
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: palette(placeholder-text);")
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        self.form.setHorizontalSpacing(12)
        self.form.setVerticalSpacing(4)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addWidget(self.description)
        layout.addLayout(self.form)
        layout.addStretch(1)
        self.editors: dict[str, QWidget] = {}  # parameter name -> its main editor (tests use this)
        self._classes_boxes: dict[str, QCheckBox] = {}
        self.show_layer(None, None, 10)

    # ---------------------------------------------------------------------------------------------
    def show_layer(self, index: int | None, layer: LayerDict | None, num_classes: int) -> None:
        """Rebuild the form for layer `index` (None: nothing selected)."""
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors.clear()
        self._classes_boxes.clear()
        ltype = LAYER_TYPES.get(str(layer.get("type"))) if isinstance(layer, dict) else None
        if index is None or ltype is None or layer is None:
            self.heading.setText("No layer selected")
            self.description.setText("Select a row in the table to change that layer's settings.")
            return
        self.heading.setText(f"Layer {index + 1}: {ltype.title}")
        self.description.setText(ltype.description)
        if not ltype.params:
            self.form.addRow(QLabel("This layer has no settings."))
        for p in ltype.params:
            value = layer.get(p.name, p.default)
            editor = self._make_editor(p, value, num_classes)
            label = QLabel(p.title)
            label.setToolTip(p.help)
            self.form.addRow(label, editor)

    def set_value(self, name: str, value: object) -> None:
        """Show a value set from code, without echoing paramChanged back."""
        editor = self.editors.get(name)
        if editor is None:
            return
        editor.blockSignals(True)
        classes = self._classes_boxes.get(name)
        try:
            if classes is not None:
                classes.blockSignals(True)
                classes.setChecked(value == CLASSES)
                editor.setEnabled(value != CLASSES)
                classes.blockSignals(False)
                if value == CLASSES:
                    return
            if isinstance(editor, QCheckBox):
                editor.setChecked(bool(value))
            elif isinstance(editor, QComboBox):
                editor.setCurrentIndex(max(0, editor.findText(str(value))))
            elif isinstance(editor, QDoubleSpinBox):
                editor.setValue(float(value) if isinstance(value, (int, float)) else editor.minimum())
            elif isinstance(editor, QSpinBox):
                editor.setValue(int(value) if isinstance(value, (int, float)) else editor.minimum())
        finally:
            editor.blockSignals(False)

    def set_num_classes(self, num_classes: int) -> None:
        for box in self._classes_boxes.values():
            box.setText(f"= number of classes ({num_classes})")

    # ---------------------------------------------------------------------------------------------
    def _make_editor(self, p: ParamSpec, value: object, num_classes: int) -> QWidget:
        if p.kind == "bool":
            box = QCheckBox()
            box.setChecked(bool(value))
            box.toggled.connect(lambda v, n=p.name: self.paramChanged.emit(n, bool(v)))
            self.editors[p.name] = box
            box.setToolTip(p.help)
            return box
        if p.kind == "choice":
            combo = QComboBox()
            combo.addItems(list(p.choices))
            combo.setCurrentIndex(max(0, combo.findText(str(value))))
            combo.currentTextChanged.connect(lambda v, n=p.name: self.paramChanged.emit(n, v))
            self.editors[p.name] = combo
            combo.setToolTip(p.help)
            return combo
        if p.kind == "float":
            fspin = QDoubleSpinBox()
            low = p.min if p.min is not None else -FLOAT_MAX
            high = p.max if p.max is not None else FLOAT_MAX
            if p.max is not None and not p.max_inclusive:
                high = p.max - 0.01  # [0, 1) for dropout: 0.99 is the largest offered
            fspin.setDecimals(3 if high <= 1 else 2)
            fspin.setSingleStep(0.05 if high <= 1 else 0.01)
            fspin.setRange(low, high)
            fspin.setValue(float(value) if isinstance(value, (int, float)) else low)
            fspin.valueChanged.connect(lambda v, n=p.name: self.paramChanged.emit(n, round(float(v), 6)))
            fspin.setToolTip(p.help)
            self.editors[p.name] = fspin
            return fspin

        # int
        spin = QSpinBox()
        low = int(p.min) if p.min is not None else 0
        high = int(p.max) if p.max is not None else INT_MAX
        if p.optional:
            spin.setRange(low - 1, high)
            spin.setSpecialValueText(_optional_text(p))  # shown at low - 1, which means None
        else:
            spin.setRange(low, high)
        spin.setAccelerated(True)
        spin.setToolTip(p.help)
        number = value if isinstance(value, int) and not isinstance(value, bool) else None
        spin.setValue(number if number is not None else spin.minimum())

        def emit_int(v: int, n: str = p.name, none_at: int | None = (low - 1) if p.optional else None) -> None:
            self.paramChanged.emit(n, None if none_at is not None and v == none_at else int(v))

        spin.valueChanged.connect(emit_int)
        self.editors[p.name] = spin
        if CLASSES not in p.special:
            return spin

        # Linear out: a number or "classes", chosen by a checkbox next to the number.
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        classes = QCheckBox(f"= number of classes ({num_classes})")
        classes.setToolTip("Use the dataset's number of classes, so the same model fits any dataset.")
        is_classes = value == CLASSES
        classes.setChecked(is_classes)
        spin.setEnabled(not is_classes)
        if is_classes:
            spin.blockSignals(True)
            spin.setValue(num_classes)
            spin.blockSignals(False)

        def classes_toggled(on: bool, n: str = p.name, s: QSpinBox = spin) -> None:
            s.setEnabled(not on)
            self.paramChanged.emit(n, CLASSES if on else int(s.value()))

        classes.toggled.connect(classes_toggled)
        self._classes_boxes[p.name] = classes
        row.addWidget(spin)
        row.addWidget(classes)
        row.addStretch(1)
        holder.setFocusProxy(spin)
        return holder

    def editor(self, name: str) -> QWidget | None:
        return self.editors.get(name)

    def classes_checkbox(self, name: str = "out") -> QCheckBox | None:
        return self._classes_boxes.get(name)
