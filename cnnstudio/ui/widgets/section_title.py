"""Headings: a page's opening line (page_header) and the bold heading of a section (section_title)."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel


def section_title(text: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * 1.08)
    label.setFont(font)
    return label


def page_header(title: str, subtitle: str) -> QHBoxLayout:
    """A page's opening line: its name, large, and one sentence on what it is for (Data, Model)."""
    heading = QLabel(title)
    heading.setStyleSheet("font-size: 18px; font-weight: 600;")
    line = QLabel(subtitle)
    line.setStyleSheet("color: palette(placeholder-text);")
    line.setWordWrap(True)
    header = QHBoxLayout()
    header.addWidget(heading)
    header.addSpacing(10)
    header.addWidget(line, 1)
    return header
