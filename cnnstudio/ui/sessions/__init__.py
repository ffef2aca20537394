"""Sessions: each page's state, decisions and background calls, as plain QObjects without widgets.

A view (cnnstudio/ui/pages) builds widgets, forwards what the user does to its session and shows what
the session reports through typed signals. Sessions never import views; tests drive them directly.
"""
