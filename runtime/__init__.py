"""The Ray Serve application and how it is operated: deployments, graph, ``vigil up``, scaling.

Sits above ``serving`` (it builds the gateway on the ingress replica by ordinary import) and
``engine`` (each deployment wraps one of the engine's stages).
"""
