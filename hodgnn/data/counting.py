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
from hodgnn.data.info import LEVELS, DatasetInfo
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


def _extend_simple_paths(linked: np.ndarray, paths: np.ndarray, above_first: bool) -> np.ndarray:
    """Every one-node extension ``[P', k + 1]`` of the simple paths ``[P, k]`` (a neighbour of the last
    node not yet on the path; with ``above_first`` also larger than the first node)."""
    allowed = linked[paths[:, -1]].copy()
    if above_first:
        allowed &= np.arange(linked.shape[0])[None, :] > paths[:, :1]
    allowed[np.arange(len(paths))[:, None], paths] = False
    rows, cols = np.nonzero(allowed)
    return np.concatenate([paths[rows], cols[:, None]], axis=1)


def count_cycles_per_node(adj: np.ndarray, max_length: int = 6) -> np.ndarray:
    """Exact numbers of simple cycles of every length ``3..max_length`` through every node.

    Enumerates every simple path whose first node is its smallest, extending all paths of a graph at
    once; a path on ``k`` nodes whose last node is adjacent to its first closes a ``k``-cycle, and each
    cycle is found exactly twice (once per direction), so every node of a closed path is credited
    half a cycle. Cost: the number of such paths, small for the sparse graphs of the counting
    benchmarks (max degree 6 there).

    Args:
        adj (ndarray): symmetric 0/1 adjacency matrix ``[n, n]`` without self-loops.
        max_length (int): longest cycle length counted. (default: :obj:`6`)

    Returns:
        ``int64 [n, max_length - 2]``: column ``k - 3`` holds the number of ``k``-cycles through
        each node.
    """
    if max_length < 3:
        raise ValueError(f"max_length must be at least 3, got {max_length}")
    linked = np.asarray(adj).astype(bool)
    n = linked.shape[0]
    twice = np.zeros((n, max_length - 2), dtype=np.int64)
    paths = np.arange(n)[:, None]
    for num_path_nodes in range(2, max_length + 1):
        if len(paths) == 0:
            break
        paths = _extend_simple_paths(linked, paths, above_first=True)
        if num_path_nodes >= 3:
            closed = paths[linked[paths[:, -1], paths[:, 0]]]
            twice[:, num_path_nodes - 3] = np.bincount(closed.ravel(), minlength=n)
    return twice // 2


def count_cycles(adj: np.ndarray, max_length: int = 6) -> dict[int, int]:
    """Exact numbers of simple cycles of every length ``3..max_length`` (see
    :func:`count_cycles_per_node`; a ``k``-cycle passes through ``k`` nodes).

    Returns:
        ``{k: number of k-cycles}`` for ``k = 3..max_length``.
    """
    per_node = count_cycles_per_node(adj, max_length)
    return {k: int(per_node[:, k - 3].sum()) // k for k in range(3, max_length + 1)}


def count_paths_from(adj: np.ndarray, num_edges: int) -> np.ndarray:
    """``int64 [n]``: the number of simple paths with ``num_edges`` edges that start at each node
    (every path is counted once from each of its two ends)."""
    linked = np.asarray(adj).astype(bool)
    n = linked.shape[0]
    paths = np.arange(n)[:, None]
    for _ in range(num_edges):
        paths = _extend_simple_paths(linked, paths, above_first=False)
    return np.bincount(paths[:, 0], minlength=n).astype(np.int64)


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


def count_substructures_per_node(
    graph: torch.Tensor | np.ndarray, num_nodes: int | None = None
) -> dict[str, np.ndarray]:
    """Exact node-level counts of the eight benchmark substructures, I2-GNN's rooted convention.

    Each pattern has a root (I2-GNN's ``count_graphlet``; its labels are these counts up to a
    constant factor per target, which the normalised MAE ignores), and a node's count is the number
    of (not necessarily induced) copies of the pattern in which it is the root:

    * ``cycle3`` .. ``cycle6``: the k-cycles through the node (:func:`count_cycles_per_node`);
    * ``tailed_triangle``: the node is the pendant end, :math:`\\sum_{u \\in N(v)} (t_u - (A^2)_{uv})`;
    * ``chordal_cycle``: the node is one of the two degree-2 nodes of the diamond,
      :math:`\\sum_{\\{a,b\\} \\subseteq N(v),\\, a \\sim b} ((A^2)_{ab} - 1)`;
    * ``clique4``: the 4-cliques that contain the node (triangles of its neighbourhood);
    * ``path4``: the simple paths with **4 edges** (5 nodes) that start at the node, I2-GNN's
      4-path (:func:`count_paths_from`). The graph-level ``path4`` of :func:`count_substructures`
      is the 3-edge path instead.

    Args:
        graph (Tensor or ndarray): ``edge_index [2, E]`` or a dense adjacency matrix ``[n, n]``.
        num_nodes (int, optional): number of nodes (for an ``edge_index``). (default: :obj:`None`)

    Returns:
        ``{name: int64 [n]}`` with the keys of :data:`SUBSTRUCTURES`.
    """
    adj = dense_adjacency(graph, num_nodes)
    adj2 = adj @ adj
    triangles_at = np.diagonal(adj2 @ adj) // 2
    cycles = count_cycles_per_node(adj, max_length=6)
    edge_common = adj * (adj2 - 1)  # on edges ab: common neighbours of a and b other than one given node
    cliques = np.zeros(adj.shape[0], dtype=np.int64)
    for v in range(adj.shape[0]):
        neighbours = np.flatnonzero(adj[v])
        if len(neighbours) >= 3:
            local = adj[np.ix_(neighbours, neighbours)]
            cliques[v] = int(np.trace(local @ local @ local)) // 6
    counts = {
        **{f"cycle{k}": cycles[:, k - 3] for k in range(3, 7)},
        "tailed_triangle": adj @ triangles_at - (adj * adj2).sum(1),
        "chordal_cycle": np.einsum("va,ab,vb->v", adj, edge_common, adj) // 2,
        "clique4": cliques,
        "path4": count_paths_from(adj, 4),
    }
    return {name: np.asarray(counts[name], dtype=np.int64) for name in SUBSTRUCTURES}


def counting_targets(adjacencies: Sequence[np.ndarray]) -> np.ndarray:
    """Counts of all :data:`SUBSTRUCTURES` for a list of graphs, as an ``int64`` array ``[N, 8]``."""
    rows = []
    for adj in adjacencies:
        counts = count_substructures(adj)
        rows.append([counts[name] for name in SUBSTRUCTURES])
    return np.asarray(rows, dtype=np.int64).reshape(len(rows), len(SUBSTRUCTURES))


def node_counting_targets(adjacencies: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Node-level counts of all :data:`SUBSTRUCTURES` (:func:`count_substructures_per_node`), one
    ``int64 [n_i, 8]`` array per graph."""
    tables = []
    for adj in adjacencies:
        counts = count_substructures_per_node(adj)
        tables.append(np.stack([counts[name] for name in SUBSTRUCTURES], axis=1))
    return tables


def counting_info(
    name: str,
    targets: list[str],
    target_std: Sequence[float],
    normalized: bool,
    split_sizes: dict[str, int],
    level: str = "graph",
    **extra,
) -> DatasetInfo:
    """The :class:`DatasetInfo` of a counting dataset: graph- or node-level (``level``) regression of
    ``len(targets)`` substructure counts (MAE) from one constant float node feature.

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
        level=level,
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
    """``y`` is one graph's target row ``[T]`` or its node table ``[n, T]``."""
    edge_index = torch.from_numpy(np.stack(np.nonzero(adj)).astype(np.int64))
    n = adj.shape[0]
    y = torch.as_tensor(y, dtype=torch.float32)
    return Data(
        x=torch.ones(n, 1),
        edge_index=edge_index,
        y=y.view(1, -1) if y.dim() == 1 else y,
        num_nodes=n,
    )


def load_counting(
    target: str | Sequence[str],
    root: str | os.PathLike | None = None,
    *,
    level: str = "graph",
    normalize: bool = True,
    max_graphs_per_split: int | dict[str, int] | None = None,
    **options: object,
):
    """The substructure-counting benchmark with exact targets and the official 1500/1000/2500 split.

    Node features are the constant 1 (``x [n, 1]``). At ``level="graph"`` the target ``y [1, T]``
    is the count divided by the standard deviation of that count over the 1500 training graphs (the
    benchmark's normalisation; MAE is then reported in these units). At ``level="node"`` (I2-GNN's
    protocol, whose table the paper's counting table extends) ``y [n, T]`` holds every node's
    rooted count (:func:`count_substructures_per_node`) divided by the standard deviation over all
    nodes of the training graphs, and the MAE is taken over nodes.

    Args:
        target (str or list of str): one name of :data:`SUBSTRUCTURES` (or an alias), a list of them,
            or ``"all"`` for the eight targets as eight tasks.
        root (str or Path, optional): data root holding ``counting/random_graphs.npy``; see
            :func:`hodgnn.data.root.resolve_data_root`. (default: :obj:`None`)
        level (str): ``"graph"`` or ``"node"`` targets (``load_dataset("counting-node-<target>")``
            gives the node level). (default: ``"graph"``)
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
    if level not in LEVELS:
        raise ValueError(f"level must be one of {list(LEVELS)}, got {level!r}")
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
    columns = [SUBSTRUCTURES.index(name) for name in names]
    if level == "graph":
        counts: list[np.ndarray] = list(counting_targets(adjacencies)[:, columns])
        convention = "graph level: number of (not necessarily induced) subgraphs isomorphic to it"
    else:
        counts = [table[:, columns] for table in node_counting_targets(adjacencies)]
        convention = (
            "node level (I2-GNN): per node, the (not necessarily induced) copies of the pattern rooted "
            "at it; path4 = 4-edge paths starting at it"
        )
    train_rows = np.concatenate([np.atleast_2d(counts[i]) for i in split["train"]])
    std = train_rows.astype(np.float64).std(axis=0)
    scale = np.where(std > 0, std, 1.0) if normalize else np.ones(len(names))

    def build(name: str) -> GraphDataset:
        index = split[name][: limits[name]]
        return GraphDataset(
            [_graph_from_adjacency(np.asarray(adjacencies[i]), counts[i] / scale) for i in index]
        )

    prefix = "counting-" if level == "graph" else "counting-node-"
    dataset_name = prefix + ("all" if names == list(SUBSTRUCTURES) else ",".join(names))
    info = counting_info(
        dataset_name,
        names,
        scale,
        normalize,
        {name: len(split[name]) for name in SPLIT_SIZES},
        level=level,
        convention=convention,
        source_sha256=file_sha256(folder / "random_graphs.npy"),
    )
    return DatasetSplits(train=build("train"), val=build("val"), test=build("test"), info=info)
