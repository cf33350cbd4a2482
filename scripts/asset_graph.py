"""Print the asset graph of the code location as a Mermaid flowchart, grouped as in the UI (one
subgraph per asset group; sharded assets as double boxes). docs/architecture.md embeds its output; a test keeps the two equal.

    python scripts/asset_graph.py > /tmp/graph.mmd
"""
from __future__ import annotations

import warnings


def mermaid() -> str:
    warnings.simplefilter("ignore")
    from assets.graph import build_definitions
    from assets.settings import Settings

    graph = build_definitions(Settings()).resolve_asset_graph()
    keys = sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string())
    groups: dict[str, list] = {}
    for k in keys:
        groups.setdefault(graph.get(k).group_name, []).append(k)
    lines = ["flowchart LR"]
    for group, members in sorted(groups.items()):
        lines.append(f"  subgraph {group}")
        # partitioned (sharded) assets drawn as [[double boxes]]
        lines += [f"    {k.to_user_string()}" + (f"[[{k.to_user_string()}]]" if graph.get(k).partitions_def else "")
                  for k in members]
        lines.append("  end")
    for k in keys:
        lines += [f"  {p.to_user_string()} --> {k.to_user_string()}" for p in sorted(graph.get(k).parent_keys)]
    return "\n".join(lines)


if __name__ == "__main__":
    print(mermaid())
