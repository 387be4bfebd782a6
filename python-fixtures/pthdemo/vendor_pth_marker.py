"""Imported by pthdemo.pth: proves .pth import lines in _vendor run."""
