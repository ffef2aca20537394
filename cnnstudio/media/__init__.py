"""Frames from cameras and video files, decoded by QtMultimedia: Qt, but no widgets.

Why a package of its own, between the core and the UI: the core never imports Qt (the CLI and torchrun
run it on machines without a display), yet a clip must be decoded by the same code in the app and on
the command line, or `cnnstudio predict --video` and the Camera page would disagree about a frame.
QtMultimedia (QMediaPlayer into a QVideoSink, QCamera through a QMediaCaptureSession) is that one
decoder: it needs only a QCoreApplication, no window. So this package holds it, imported by the UI's
sessions and lazily by the command line (cli_video.py); it hands numpy RGB frames to the core
(cnnstudio.core.capture), which frames, saves and classifies them.
"""
