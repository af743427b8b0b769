"""The hub: the one process that owns the timing connections, and the viewers' replicas.

``core`` turns what the sources feed into numbered change frames and snapshots, ``replica``
applies them to a viewer's engine without stalling its loop, ``local`` runs the hub as the
dashboard's child process, ``records`` is the wire format (transport-agnostic: a local
socket today, Redis Streams later).
"""
