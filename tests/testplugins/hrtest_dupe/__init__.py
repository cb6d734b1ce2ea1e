"""A re-ranker whose name clashes with hrtest_allkinds' (a test distribution)."""

from hybridrec_core.hookspecs import Register, hookimpl
from hybridrec_core.interfaces import Candidates, ReRanker, RerankContext


class AlsoReverse(ReRanker):
    name = "hrtest_reverse"
    description = "Same name, different class."

    def rerank(self, candidates: Candidates, k: int, context: RerankContext) -> Candidates:
        return candidates


@hookimpl
def register_rerankers(register: Register) -> None:
    register(AlsoReverse)
