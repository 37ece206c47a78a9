"""Exact substructure counts and the random-graph substructure-counting benchmark.

The benchmark (Chen et al., "Can graph neural networks count substructures?", NeurIPS 2020; the
graph-level tasks of GNN-AK, I2-GNN and HOD-GNN) holds 5000 random graphs split 1500/1000/2500. Its
targets are not distributed with the graphs, so they are computed here, exactly, from the adjacency
matrix.

Convention (graph level, every target): the number of subgraphs of :math:`G` isomorphic to the
pattern :math:`H`, not necessarily induced, i.e. the number of injective homomorphisms
:math:`H \\to G` divided by :math:`|\\mathrm{Aut}(H)|`. This is the convention of the public counting
code (triangles :math:`\\mathrm{tr}(A^3)/6`, 4-cycles
:math:`(\\mathrm{tr}A^4 + \\mathrm{tr}A^2 - 2\\sum_{ij}(A^2)_{ij})/8`, tailed triangles
:math:`\\sum_v \\frac{(A^3)_{vv}}{2}(d_v-2)`) and of the homomorphism-expressivity code that ships these
graphs (subgraph-isomorphism counts divided by the automorphism count). Patterns:

* ``cycle3`` .. ``cycle6``: the simple cycle :math:`C_k` on k nodes; path enumeration (below).
* ``tailed_triangle``: a triangle plus one pendant edge (4 nodes, 4 edges);
  :math:`\\sum_v t_v (d_v-2)`.
* ``chordal_cycle``: a 4-cycle with one chord (:math:`K_4` minus an edge, the diamond);
  :math:`\\sum_{uv\\in E}\\binom{(A^2)_{uv}}{2}`.
* ``clique4``: :math:`K_4`; :math:`\\frac16\\sum_{uv\\in E} e(N(u)\\cap N(v))` (edges among common
  neighbours).
* ``path4``: the path on 4 nodes (3 edges, the 4-node graphlet of I2-GNN's task list);
  :math:`\\sum_{uv\\in E}(d_u-1)(d_v-1) - 3 t`.

with :math:`t_v = (A^3)_{vv}/2` the triangles through :math:`v` and :math:`t = \\sum_v t_v / 3`.
Cycles are enumerated exactly: every simple path that starts at its smallest node is extended one
node at a time (vectorised over all paths of a graph) and a path on k nodes whose ends are adjacent
closes a k-cycle; each cycle is met twice (once per direction).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from torch_geometric.data import Data

from hodgnn.checks import check_positive_int_or_none
from hodgnn.data.info import DatasetInfo
from hodgnn.data.root import file_sha256, require_file, resolve_data_root
from hodgnn.data.storage import DatasetSplits, GraphDataset

SUBSTRUCTURES = (
    "cycle3",
    "cycle4",
    "cycle5",
    "cycle6",
    "tailed_triangle",
    "chordal_cycle",
    "clique4",
    "path4",
)
"""Canonical target names, in the column order of :func:`counting_targets`."""

TARGET_ALIASES = {
    "triangle": "cycle3",
    "3-cycle": "cycle3",
    "4-cycle": "cycle4",
    "5-cycle": "cycle5",
    "6-cycle": "cycle6",
    "tailed-triangle": "tailed_triangle",
    "chordal-cycle": "chordal_cycle",
    "4-clique": "clique4",
    "4-path": "path4",
}

SPLIT_SIZES = {"train": 1500, "val": 1000, "test": 2500}
COUNTING_SOURCE = (
    "random_graphs.npy of the substructure-counting benchmark (Chen et al. 2020), as shipped by "
    "github.com/subgraph23/homomorphism-expressivity (data/count/graph.npy)"
)


def canonical_target(name: str) -> str:
    """Map a target name or alias (``"3-cycle"``, ``"tailed-triangle"``, ``"cycle3"``) to its canonical name.

    Raises:
        ValueError: if ``name`` names no known substructure.
    """
    key = name.strip().lower()
    key = TARGET_ALIASES.get(key, key).replace("-", "_")
    if key not in SUBSTRUCTURES:
        raise ValueError(
            f"Unknown counting target {name!r}; known: {list(SUBSTRUCTURES)} "
            f"or aliases {list(TARGET_ALIASES)}"
        )
    return key


def dense_adjacency(graph: torch.Tensor | np.ndarray, num_nodes: int | None = None) -> np.ndarray:
    """A simple undirected graph as a dense ``int64`` 0/1 adjacency matrix.

    Args:
        graph (Tensor or ndarray): an ``edge_index [2, E]`` (both directions or either; duplicates are
            merged) or a square adjacency matrix ``[n, n]``.
        num_nodes (int, optional): number of nodes; required for an ``edge_index`` whose largest node is
            not the last one. (default: :obj:`None`)

    Raises:
        ValueError: on self-loops, an asymmetric adjacency matrix, entries other than 0/1, or a
            ``num_nodes`` too small for the edge index.
    """
    array = graph.detach().cpu().numpy() if isinstance(graph, torch.Tensor) else np.asarray(graph)
    if array.ndim == 2 and array.shape[0] == array.shape[1] and (array.shape[0] != 2 or num_nodes == 2):
        if num_nodes is not None and num_nodes != array.shape[0]:
            raise ValueError(f"num_nodes={num_nodes} but the adjacency matrix is {array.shape}")
        if not np.isin(array, (0, 1)).all():
            raise ValueError("The adjacency matrix must hold only 0 and 1 (a simple, unweighted graph)")
        adj = array.astype(np.int64)
        if (adj != adj.T).any():
            raise ValueError(
                "The adjacency matrix is not symmetric: counts are defined for undirected graphs"
            )
    elif array.ndim == 2 and array.shape[0] == 2:
        edges = array.astype(np.int64)
        n = int(edges.max()) + 1 if num_nodes is None and edges.size else int(num_nodes or 0)
        if edges.size and (edges.min() < 0 or edges.max() >= n):
            raise ValueError(f"edge_index refers to node {int(edges.max())} but num_nodes={n}")
        adj = np.zeros((n, n), dtype=np.int64)
        adj[edges[0], edges[1]] = 1
        adj[edges[1], edges[0]] = 1
    else:
        raise ValueError(
            f"Expected an edge_index [2, E] or an adjacency matrix [n, n], got shape {array.shape}"
        )
    if np.diagonal(adj).any():
        raise ValueError("The graph has self-loops; substructure counts are defined for simple graphs")
    return adj


def count_cycles(adj: np.ndarray, max_length: int = 6) -> dict[int, int]:
    """Exact numbers of simple cycles of every length ``3..max_length``.

    Enumerates every simple path whose first node is its smallest, extending all paths of a graph at
    once; a path on ``k`` nodes whose last node is adjacent to its first closes a ``k``-cycle, and each
    cycle is found exactly twice (once per direction). Cost: the number of such paths, small for the
    sparse graphs of the counting benchmarks (max degree 6 there).

    Args:
        adj (ndarray): symmetric 0/1 adjacency matrix ``[n, n]`` without self-loops.
        max_length (int): longest cycle length counted. (default: :obj:`6`)

    Returns:
        ``{k: number of k-cycles}`` for ``k = 3..max_length``.
    """
    if max_length < 3:
        raise ValueError(f"max_length must be at least 3, got {max_length}")
    linked = np.asarray(adj).astype(bool)
    n = linked.shape[0]
    nodes = np.arange(n)
    counts = {k: 0 for k in range(3, max_length + 1)}
    paths = nodes[:, None]
    for num_path_nodes in range(2, max_length + 1):
        if len(paths) == 0:
            break
        allowed = linked[paths[:, -1]] & (nodes[None, :] > paths[:, :1])
        allowed[np.arange(len(paths))[:, None], paths] = False
        rows, cols = np.nonzero(allowed)
        paths = np.concatenate([paths[rows], cols[:, None]], axis=1)
        if num_path_nodes >= 3:
            closed = int(linked[paths[:, -1], paths[:, 0]].sum())
            counts[num_path_nodes] = closed // 2
    return counts


def count_substructures(graph: torch.Tensor | np.ndarray, num_nodes: int | None = None) -> dict[str, int]:
    """Exact graph-level counts of the eight benchmark substructures (see the module docstring).

    Args:
        graph (Tensor or ndarray): ``edge_index [2, E]`` or a dense adjacency matrix ``[n, n]`` of a
            simple undirected graph.
        num_nodes (int, optional): number of nodes (for an ``edge_index``). (default: :obj:`None`)

    Returns:
        ``{name: count}`` with the keys of :data:`SUBSTRUCTURES`, as Python ints.
    """
    adj = dense_adjacency(graph, num_nodes)
    degree = adj.sum(1)
    adj2 = adj @ adj
    adj3 = adj2 @ adj
    triangles_at = np.diagonal(adj3) // 2
    triangles = int(triangles_at.sum()) // 3
    cycles = count_cycles(adj, max_length=6)
    upper = np.triu(adj, 1).astype(bool)
    common = adj2[upper]
    src, dst = np.nonzero(upper)
    # edges inside the common neighbourhood of each edge (u, v): m^T A m / 2 with m = A[u] * A[v]
    common_mask = adj[src] * adj[dst]
    edges_among_common = np.einsum("ew,wx,ex->e", common_mask, adj, common_mask) // 2
    counts = {
        "cycle3": cycles[3],
        "cycle4": cycles[4],
        "cycle5": cycles[5],
        "cycle6": cycles[6],
        "tailed_triangle": int((triangles_at * (degree - 2)).sum()),
        "chordal_cycle": int((common * (common - 1) // 2).sum()),
        "clique4": int(edges_among_common.sum()) // 6,
        "path4": int(((degree[src] - 1) * (degree[dst] - 1)).sum()) - 3 * triangles,
    }
    if counts["cycle3"] != triangles:
        raise AssertionError("cycle enumeration disagrees with tr(A^3)/6; the graph is not simple")
    return counts


def counting_targets(adjacencies: Sequence[np.ndarray]) -> np.ndarray:
    """Counts of all :data:`SUBSTRUCTURES` for a list of graphs, as an ``int64`` array ``[N, 8]``."""
    rows = []
    for adj in adjacencies:
        counts = count_substructures(adj)
        rows.append([counts[name] for name in SUBSTRUCTURES])
    return np.asarray(rows, dtype=np.int64).reshape(len(rows), len(SUBSTRUCTURES))


def counting_info(
    name: str,
    targets: list[str],
    target_std: Sequence[float],
    normalized: bool,
    split_sizes: dict[str, int],
    **extra,
) -> DatasetInfo:
    """The :class:`DatasetInfo` of a counting dataset: graph-level regression of ``len(targets)``
    substructure counts (MAE) from one constant float node feature.

    ``info.extra`` holds the targets, their training std (``target_std``; multiply a normalised MAE
    by it to get counts), whether targets were ``normalized``, the ``split_sizes`` and ``extra``.
    """
    return DatasetInfo(
        name=name,
        task="regression",
        metric="mae",
        num_tasks=len(targets),
        node_input="float",
        node_dim=1,
        extra={
            "targets": targets,
            "target_std": [float(s) for s in target_std],
            "normalized": normalized,
            "split_sizes": split_sizes,
            **extra,
        },
    )


def read_counting_graphs(folder: str | os.PathLike) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Read ``random_graphs.npy``: the dense adjacency matrices and the official split indices.

    Args:
        folder (str or Path): the ``counting`` folder holding ``random_graphs.npy``.

    Returns:
        ``(adjacencies, split)``: 5000 ``int8`` matrices and ``{"train", "val", "test"}`` index arrays.
    """
    from pathlib import Path

    path = require_file(Path(folder) / "random_graphs.npy", COUNTING_SOURCE)
    adjacencies, split = np.load(path, allow_pickle=True)
    split = split.item() if isinstance(split, np.ndarray) else split
    split = {name: np.asarray(split[name], dtype=np.int64) for name in SPLIT_SIZES}
    for name, size in SPLIT_SIZES.items():
        if len(split[name]) != size:
            raise ValueError(f"{path}: split {name!r} has {len(split[name])} graphs, expected {size}")
    return list(adjacencies), split


def _graph_from_adjacency(adj: np.ndarray, y: np.ndarray) -> Data:
    edge_index = torch.from_numpy(np.stack(np.nonzero(adj)).astype(np.int64))
    n = adj.shape[0]
    return Data(
        x=torch.ones(n, 1),
        edge_index=edge_index,
        y=torch.as_tensor(y, dtype=torch.float32).view(1, -1),
        num_nodes=n,
    )


def load_counting(
    target: str | Sequence[str],
    root: str | os.PathLike | None = None,
    *,
    normalize: bool = True,
    max_graphs_per_split: int | dict[str, int] | None = None,
    **options: object,
):
    """The substructure-counting benchmark with exact targets and the official 1500/1000/2500 split.

    Node features are the constant 1 (``x [n, 1]``); the target ``y [1, T]`` is the count divided by
    the standard deviation of that count over the 1500 training graphs (the benchmark's
    normalisation; MAE is then reported in these units).

    Args:
        target (str or list of str): one name of :data:`SUBSTRUCTURES` (or an alias), a list of them,
            or ``"all"`` for the eight targets as eight tasks.
        root (str or Path, optional): data root holding ``counting/random_graphs.npy``; see
            :func:`hodgnn.data.root.resolve_data_root`. (default: :obj:`None`)
        normalize (bool): divide targets by their training standard deviation. (default: :obj:`True`)
        max_graphs_per_split (int or dict, optional): keep only the first ``k`` graphs of every split,
            or of the splits named in a dict such as ``{"train": 300}`` (tests, shortened runs); the
            normalisation still uses the full training split. (default: :obj:`None`)

    Returns:
        :class:`hodgnn.data.storage.DatasetSplits` with ``info.extra`` holding the targets, their
        training std (``target_std``), the split sizes and the counting convention.
    """
    if options:
        raise ValueError(f"load_counting got unknown options {sorted(options)}")
    if isinstance(target, str):
        names = list(SUBSTRUCTURES) if target == "all" else [canonical_target(t) for t in target.split(",")]
    else:
        names = [canonical_target(t) for t in target]
    if isinstance(max_graphs_per_split, dict):
        unknown = set(max_graphs_per_split) - set(SPLIT_SIZES)
        if unknown:
            raise ValueError(f"max_graphs_per_split names unknown splits {sorted(unknown)}")
        limits = {name: max_graphs_per_split.get(name) for name in SPLIT_SIZES}
    else:
        limits = dict.fromkeys(SPLIT_SIZES, max_graphs_per_split)
    for name, limit in limits.items():
        check_positive_int_or_none(f"max_graphs_per_split[{name!r}]", limit)

    folder = resolve_data_root(root) / "counting"
    adjacencies, split = read_counting_graphs(folder)
    counts = counting_targets(adjacencies)[:, [SUBSTRUCTURES.index(name) for name in names]]
    std = counts[split["train"]].astype(np.float64).std(axis=0)
    scale = np.where(std > 0, std, 1.0) if normalize else np.ones(len(names))
    values = counts / scale

    def build(name: str) -> GraphDataset:
        index = split[name][: limits[name]]
        return GraphDataset([_graph_from_adjacency(np.asarray(adjacencies[i]), values[i]) for i in index])

    dataset_name = "counting-" + ("all" if names == list(SUBSTRUCTURES) else ",".join(names))
    info = counting_info(
        dataset_name,
        names,
        scale,
        normalize,
        {name: len(split[name]) for name in SPLIT_SIZES},
        convention="graph level: number of (not necessarily induced) subgraphs isomorphic to it",
        source_sha256=file_sha256(folder / "random_graphs.npy"),
    )
    return DatasetSplits(train=build("train"), val=build("val"), test=build("test"), info=info)
