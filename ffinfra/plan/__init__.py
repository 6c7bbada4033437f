"""Plan: what a spec change does to the cluster. Two compiled stacks in, a reviewed change set out.

spec_diff (YAML paths) ─┐
topo_diff (nodes, switches, cables) ─┼─▶ impact per row (update policies) ─▶ Plan ─▶ table | Markdown | JSON
artifact_diff (rendered files) ─┘
"""
