"""The one exception type users see: a problem with their input, reported by the CLI as a single line."""


class RtstyleError(Exception):
    """Bad input or environment (missing file, unreadable image, unknown style, wrong model file…). The message is
    complete and fits on one line; the CLI prints it without a traceback."""


class DeviceOutOfMemory(RtstyleError):
    """The accelerator ran out of memory for this frame size; a smaller inference size may fit."""
