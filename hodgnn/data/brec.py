"""The BREC expressiveness benchmark (Wang & Zhang, "Towards Better Evaluation of GNN Expressiveness
with BREC Dataset", 2023): 400 pairs of non-isomorphic graphs in graph6 format.

The official file ``brec_v3.npy`` holds 51 200 graph6 strings. For pair ``i`` (0..399) the 64 strings
``64 i .. 64 i + 63`` are 32 randomly relabelled copies of the pair, interleaved
``G1, G2, G1, G2, ...``; the 64 strings ``64 (400 + i) ..`` are the reliability set: 32 interleaved pairs of
isomorphic graphs (relabelled copies of one graph of the pair). Pair ids by category (the ranges of the
official evaluation code; its README swaps the CFI and Extension ranges, which the graph sizes and the
raw pair files disprove):

=======================  =========  =====
category                 pair ids   pairs
=======================  =========  =====
``basic``                0-59       60
``regular``              60-109     50
``strongly_regular``     110-159    50
``extension``            160-259    100
``cfi``                  260-359    100
``4_vertex_condition``   360-379    20
``distance_regular``     380-399    20
=======================  =========  =====

The paper-level "Regular" group (140 pairs) is ``regular + strongly_regular + 4_vertex_condition +
distance_regular`` (:data:`BREC_GROUPS`).
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
import torch
from torch_geometric.data import Data

from hodgnn.data.info import DatasetInfo
from hodgnn.data.root import resolve_data_root

NUM_PAIRS = 400
NUM_RELABEL = 32
BREC_NPY_SHA256 = "6975d172d27aedcdf4eb2c747450ede7928c111caeb2689fbc67e6b62fbd5562"
BREC_SOURCE = (
    "the official BREC release (brec_v3.npy from github.com/GraphPKU/BREC, 'Data Preparation': Dropbox, "
    "OneDrive or PKU disk links); it may be stored xz-compressed as brec_v3.npy.xz"
)

BREC_CATEGORIES: dict[str, range] = {
    "basic": range(0, 60),
    "regular": range(60, 110),
    "strongly_regular": range(110, 160),
    "extension": range(160, 260),
    "cfi": range(260, 360),
    "4_vertex_condition": range(360, 380),
    "distance_regular": range(380, 400),
}
"""Pair ids of every BREC category."""

BREC_GROUPS: dict[str, tuple[str, ...]] = {
    "Basic": ("basic",),
    "Regular": ("regular", "strongly_regular", "4_vertex_condition", "distance_regular"),
    "Extension": ("extension",),
    "CFI": ("cfi",),
}
"""The four categories of the BREC paper (and of HOD-GNN's table), as unions of :data:`BREC_CATEGORIES`."""

BREC_TITLES = {
    "basic": "Basic",
    "regular": "Simple regular",
    "strongly_regular": "Strongly regular",
    "extension": "Extension",
    "cfi": "CFI",
    "4_vertex_condition": "4-vertex condition",
    "distance_regular": "Distance regular",
}


def brec_info(output_dim: int = 16) -> DatasetInfo:
    """:class:`DatasetInfo` of BREC graphs: constant float node feature, ``output_dim`` outputs per graph."""
    return DatasetInfo(
        name="brec",
        task="regression",
        metric="mae",
        num_tasks=output_dim,
        node_input="float",
        node_dim=1,
        extra={"note": "graphs without features; the model output is an embedding for the RPC test"},
    )


def graph6_to_data(graph6: bytes | str) -> Data:
    """One graph6 string as a PyG graph with the constant feature ``x = 1 [n, 1]`` (both edge directions)."""
    raw = graph6.encode() if isinstance(graph6, str) else bytes(graph6)
    graph = nx.from_graph6_bytes(raw.strip())
    n = graph.number_of_nodes()
    edges = np.asarray(list(graph.edges()), dtype=np.int64).reshape(-1, 2).T
    edge_index = torch.from_numpy(np.concatenate([edges, edges[::-1]], axis=1).copy())
    return Data(x=torch.ones(n, 1), edge_index=edge_index, num_nodes=n)


def category_of(pair_id: int) -> str:
    """The :data:`BREC_CATEGORIES` key of a pair id (0..399)."""
    for name, ids in BREC_CATEGORIES.items():
        if pair_id in ids:
            return name
    raise ValueError(f"BREC pair id must be in 0..{NUM_PAIRS - 1}, got {pair_id}")


@dataclass
class BRECPair:
    """One BREC pair with its relabelled copies.

    Attributes:
        pair_id: global id (0..399).
        category: key of :data:`BREC_CATEGORIES`.
        graphs: 64 graphs, ``graphs[0::2]`` copies of G1 and ``graphs[1::2]`` copies of G2.
        reliability: 64 graphs, 32 interleaved pairs of isomorphic copies (``[0::2]`` vs ``[1::2]``).
    """

    pair_id: int
    category: str
    graphs: list[Data]
    reliability: list[Data]

    @property
    def index_in_category(self) -> int:
        return self.pair_id - BREC_CATEGORIES[self.category].start


class BRECDataset:
    """The official BREC file, parsed lazily pair by pair.

    Args:
        root (str or Path, optional): data root holding ``brec/brec_v3.npy.xz`` (or ``brec/brec_v3.npy``);
            see :func:`hodgnn.data.root.resolve_data_root`. (default: :obj:`None`)
        verify (bool): check the SHA-256 of the decompressed file against the official one.
            (default: :obj:`True`)
    """

    def __init__(self, root: str | os.PathLike | None = None, verify: bool = True) -> None:
        folder = resolve_data_root(root) / "brec"
        raw = self._read_bytes(folder)
        if verify:
            digest = hashlib.sha256(raw).hexdigest()
            if digest != BREC_NPY_SHA256:
                raise ValueError(
                    f"{folder}: brec_v3.npy has SHA-256 {digest}, not the official {BREC_NPY_SHA256}"
                )
        self.strings: np.ndarray = np.load(io.BytesIO(raw), allow_pickle=False)
        expected = NUM_PAIRS * NUM_RELABEL * 2 * 2
        if self.strings.shape != (expected,):
            raise ValueError(f"brec_v3.npy holds {self.strings.shape} strings, expected ({expected},)")
        self.folder = folder

    @staticmethod
    def _read_bytes(folder: Path) -> bytes:
        compressed = folder / "brec_v3.npy.xz"
        plain = folder / "brec_v3.npy"
        if compressed.is_file():
            with lzma.open(compressed) as handle:
                return handle.read()
        if plain.is_file():
            return plain.read_bytes()
        raise FileNotFoundError(
            f"Missing {compressed} (or {plain}). It comes from {BREC_SOURCE}. Point the data root "
            "(root= or $HODGNN_DATA_ROOT) at a folder holding brec/."
        )

    def __len__(self) -> int:
        return NUM_PAIRS

    def pair(self, pair_id: int) -> BRECPair:
        """The 64 relabelled copies and the 64 reliability graphs of pair ``pair_id``."""
        category = category_of(pair_id)
        block = 2 * NUM_RELABEL
        graphs = [graph6_to_data(s) for s in self.strings[pair_id * block : (pair_id + 1) * block]]
        offset = (NUM_PAIRS + pair_id) * block
        reliability = [graph6_to_data(s) for s in self.strings[offset : offset + block]]
        return BRECPair(pair_id=pair_id, category=category, graphs=graphs, reliability=reliability)

    def pair_ids(
        self, categories: Iterable[str] | None = None, max_pairs_per_category: int | None = None
    ) -> list[int]:
        """Pair ids of the given categories (all by default), the first ``max_pairs_per_category`` of each."""
        return select_pair_ids(categories, max_pairs_per_category)

    def pairs(
        self, categories: Iterable[str] | None = None, max_pairs_per_category: int | None = None
    ) -> list[BRECPair]:
        return [self.pair(i) for i in self.pair_ids(categories, max_pairs_per_category)]


def resolve_categories(categories: Iterable[str] | None) -> list[str]:
    """Category keys from keys, titles or paper groups (``"Regular"`` = its four categories)."""
    if categories is None:
        return list(BREC_CATEGORIES)
    resolved: list[str] = []
    lookup = {name.lower(): name for name in BREC_CATEGORIES}
    lookup.update(
        {title.lower().replace(" ", "_").replace("-", "_"): name for name, title in BREC_TITLES.items()}
    )
    for item in categories:
        key = item.strip()
        if key in BREC_GROUPS:
            names = list(BREC_GROUPS[key])
        elif key.lower().replace("-", "_").replace(" ", "_") in lookup:
            names = [lookup[key.lower().replace("-", "_").replace(" ", "_")]]
        else:
            raise ValueError(
                f"Unknown BREC category {item!r}; choose from {list(BREC_CATEGORIES)} "
                f"or groups {list(BREC_GROUPS)}"
            )
        resolved.extend(name for name in names if name not in resolved)
    return resolved


def select_pair_ids(
    categories: Iterable[str] | None = None, max_pairs_per_category: int | None = None
) -> list[int]:
    """Pair ids of ``categories`` (see :func:`resolve_categories`), the first ``k`` of each when given."""
    if max_pairs_per_category is not None and max_pairs_per_category < 1:
        raise ValueError(f"max_pairs_per_category must be >= 1, got {max_pairs_per_category}")
    ids: list[int] = []
    for name in resolve_categories(categories):
        ids.extend(list(BREC_CATEGORIES[name])[:max_pairs_per_category])
    return ids


def pair_ids_from_arguments(
    pairs: str | None, categories: str | None, max_pairs_per_category: int | None = None
) -> list[int]:
    """The pair ids of a command line: ``pairs`` (comma-separated ids) when given, else those of the
    comma-separated ``categories`` (:func:`select_pair_ids`; ``None``: every category)."""
    if pairs:
        return [int(p) for p in pairs.split(",") if p.strip()]
    return select_pair_ids(categories.split(",") if categories else None, max_pairs_per_category)
