"""Shelters (避難所): the registry, live crowding and "where can I go now?".

Pure logic, no I/O:
    ``opendata``     national CSV (UTF-8 / Shift_JIS) and GeoJSON → shelters, with line numbers
    ``crowding``     occupancy → vacant / somewhat crowded / crowded / full, colour + icon + words
    ``counts``       head counts as events, folded in time order
    ``recommend``    the nearest usable shelters, with reasons for the ones passed over
    ``doorcounter``  the MQTT door-counter message
    ``access``       access codes (scrypt) and session tokens

PostgreSQL at the edges: ``registry`` (import, reads), ``occupancy`` (events, status,
door counters, history), ``sessions``, ``areas`` (areas under level ≥ 4), ``service``
(nearest shelters with a cached index). HTTP: ``api`` and ``staff``; CLI: ``cli``.
Errors: ``errors``.
"""
