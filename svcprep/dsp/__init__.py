"""Pure signal-processing functions: arrays in, arrays out, keyword-only, units in the names.

Nothing here reads files, caches or knows about items; :mod:`svcprep.stages` wraps
these functions with their configuration.
"""
