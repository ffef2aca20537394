"""The Qt layer of CNN Studio: windows, pages, widgets and the QThread bridge to the core."""

from cnnstudio.ui._refcount_guard import protect_singletons

# Before any Qt call: PySide6 6.12 (abi3) on Python < 3.12 leaks references to None/True/False and
# would abort the app after a few thousand Qt calls. See _refcount_guard.py.
protect_singletons()
