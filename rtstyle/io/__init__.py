"""Reading and writing images and video: sources and sinks."""
