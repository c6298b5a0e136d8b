"""HAProxy: everything lbgen knows about it."""
