"""Config: RevOps' YAML (`mappings/`, `playbooks/`) parsed into models, every problem located
to its `file:line`. Parsing only; what the names mean is checked in `connector.checks`."""
