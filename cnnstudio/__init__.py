"""CNN Studio: train and understand convolutional networks without writing code."""

__version__ = "0.1.0"
