"""kaudit: agentless preflight and compliance audit for self-hosted HA Kubernetes."""

__version__ = "0.1.0"
