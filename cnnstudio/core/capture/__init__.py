"""Pictures from a camera or a video file, without Qt: framing a frame, saving recorded frames, watching a
class's variety, and the per-frame rows of a classified clip.

The frames themselves are decoded by QtMultimedia in cnnstudio/media (Qt, no widgets), which hands
numpy RGB arrays to the functions here; the core never imports Qt.
"""
