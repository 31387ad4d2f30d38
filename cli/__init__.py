"""The top floor: the `hotline` command (``main``), `hotline serve` (IVR + admin panel in one process) and
`hotline doctor`. It wires every area together, so it may import all of them; nothing imports it.
"""
