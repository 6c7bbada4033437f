"""`--engine pulumi`: the compiled stack as Pulumi resources, driven through Pulumi's Automation API.

    graph.py       compiled stack → resource specs (no Pulumi import: tests and docs read it without the SDK)
    operations.py  what the dynamic resources do: provision and remove nodes, run one role, read drift
    resources.py   the dynamic providers (Pulumi's diff/create/read/update/delete over operations.py)
    program.py     the Pulumi program: the graph registered as components and dynamic resources
    engine.py      up/preview/destroy through the Automation API, with a local file backend

Only engine.py is imported by the CLI, and only for `--engine pulumi`; it imports the SDK lazily, so `up` on the
default engine works without Pulumi installed.
"""
