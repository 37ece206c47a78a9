"""What a model and a trainer need to know about a dataset."""

from __future__ import annotations

from dataclasses import dataclass, field

TASKS = ("regression", "binary", "multilabel", "multiclass")
METRICS = ("mae", "rocauc", "ap", "accuracy")
INPUT_KINDS = ("float", "atom", "bond", "embedding", "none")
LEVELS = ("graph", "node")


@dataclass(frozen=True)
class DatasetInfo:
    """Description of a graph- or node-level prediction dataset.

    Attributes:
        name: dataset name as given to :func:`hodgnn.data.load_dataset`.
        task: ``"regression"``, ``"binary"``, ``"multilabel"`` or ``"multiclass"``.
        metric: ``"mae"``, ``"rocauc"`` (OGB Evaluator), ``"ap"`` or ``"accuracy"``.
        num_tasks: width of the target ``y`` per graph, or per node at node level (classes for
            ``multiclass``).
        node_input: how ``data.x`` is encoded: ``"float"`` (real features, width
            ``node_dim``), ``"atom"`` (OGB categorical atom features, ogb's AtomEncoder),
            ``"embedding"`` (one categorical column with ``node_dim`` categories).
        node_dim: float feature width or number of categories, as ``node_input`` says.
        edge_input: ``"float"``, ``"bond"`` (OGB BondEncoder), ``"embedding"`` or ``"none"``.
        edge_dim: edge feature width or number of categories (0 without edge features).
        higher_is_better: whether a larger metric is better.
        level: ``"graph"`` (``y [num_graphs, num_tasks]``, models pool their nodes) or ``"node"``
            (``y [num_nodes, num_tasks]``, one prediction per node, models do not pool).
        extra: dataset-specific facts (split sizes, provenance notes).
    """

    name: str
    task: str
    metric: str
    num_tasks: int
    node_input: str
    node_dim: int
    edge_input: str = "none"
    edge_dim: int = 0
    higher_is_better: bool = False
    level: str = "graph"
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for attr, allowed in (
            ("task", TASKS),
            ("metric", METRICS),
            ("node_input", INPUT_KINDS),
            ("edge_input", INPUT_KINDS),
            ("level", LEVELS),
        ):
            if getattr(self, attr) not in allowed:
                raise ValueError(f"DatasetInfo.{attr}={getattr(self, attr)!r}; allowed: {list(allowed)}")

    @property
    def has_edge_features(self) -> bool:
        return self.edge_input != "none"
