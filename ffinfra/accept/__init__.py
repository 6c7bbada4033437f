"""`ffinfra test`: acceptance suites that say, with evidence, whether a running cluster meets its spec.

context.py    what one run needs (stack, provider, suites, output folder), handed to the pytest process
cluster.py    the session's view of the cluster: topology, artifacts, thresholds, and SSH to every node (the one
              way ffinfra reaches a shell, runtime/ssh.py) with testinfra over the same connections
plugin.py     the pytest plugin: fixtures, parametrisation by node/pair/zone, measurements and culprits
suites/       the suites themselves: node, fabric, bandwidth, storage, training (pytest modules)
bandwidth.py  pairing rounds run with ib_write_bw / iperf3 / all_reduce_perf, repeats, suspects
training.py   the DDP smoke job submitted through Slurm, its result lines and verdict
srun_trace.py what srun's output says about each rank of a failed job, and which nodes to blame
results.py    one record per test: outcome, measurements against thresholds, culprits
runner.py     runs pytest in a child process, shows progress, writes the reports, drains failed nodes
report/       JUnit comes from pytest; JSON, Markdown and HTML (Jinja2 templates, autoescaped, with SVG heatmaps)
              from results.json
"""
