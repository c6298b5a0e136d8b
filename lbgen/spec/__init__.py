"""The spec: its models, its loader (YAML with positions kept) and its cross-field checks."""
