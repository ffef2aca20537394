"""The Qt layer of CNN Studio: windows, pages, widgets and the QThread bridge to the core."""
