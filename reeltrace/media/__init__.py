"""Media: open containers, read what they hold, sample pictures and decode sound.

``container`` (probe, errors, file walks), ``frames`` (picture samples), ``sound`` (mono
samples); every problem with an input surfaces as ``MediaError`` with a one-line message.
"""

from .container import MEDIA_SUFFIXES, MediaError, expand_paths, file_hash, probe

__all__ = ["MEDIA_SUFFIXES", "MediaError", "expand_paths", "file_hash", "probe"]
