"""Reading and writing images and video: sources and sinks."""
import os

# FFmpeg inside OpenCV writes a line to stderr for every damaged packet (hundreds for one bad file) unless told before
# OpenCV's first video capture, camera probes included; our errors say what went wrong in one line instead. Set
# OPENCV_FFMPEG_LOGLEVEL yourself to see FFmpeg's view.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
