"""Paging of the portal's lists: offset pages, as the services' list APIs take them
(`limit`, `offset`). Each list on a page has its own query parameter (`applications_page=3`),
so that paging one list keeps the others where they were.

A list the service pages is asked for one item more than a page holds: that extra item says
whether a next page exists, without a count the APIs do not give. A list the service answers
whole (bounded by the service, e.g. approvals) is paged here, by slicing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlencode

PAGE_SIZE = 20
MAX_PAGE = 10_000  # no deeper than the services' offsets allow, whatever is typed in the address

T = TypeVar("T")


@dataclass(frozen=True)
class Pager:
    """One list's page: which it is, whether there are pages around it, and their addresses."""

    name: str  # the list's name: its query parameter is `<name>_page`
    number: int  # 1-based
    size: int
    has_next: bool
    path: str
    query: tuple[tuple[str, str], ...]  # the page's other query parameters, kept in the links

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def shown(self) -> bool:
        """Controls are shown only when there is more than one page."""
        return self.has_previous or self.has_next

    def href(self, number: int) -> str:
        """The address of another page of this list (the other lists' pages kept)."""
        params = [(k, v) for k, v in self.query if k not in (self.parameter, "ok", "lang")]
        if number > 1:
            params.append((self.parameter, str(number)))
        return self.path + ("?" + urlencode(params) if params else "")

    @property
    def parameter(self) -> str:
        return f"{self.name}_page"


def requested_page(query: Mapping[str, str], name: str) -> int:
    """The page number asked for in `<name>_page`; 1 when absent or not a sensible number."""
    raw = query.get(f"{name}_page", "")
    try:
        number = int(raw)
    except ValueError:
        return 1
    return min(max(number, 1), MAX_PAGE)


def window(query: Mapping[str, str], path: str, name: str, size: int = PAGE_SIZE) -> tuple[int, int, Pager]:
    """What to ask a paging service for (limit: one more than the page, offset), and the pager
    to complete with `settle` once the answer is in."""
    number = requested_page(query, name)
    pager = Pager(name, number, size, False, path, tuple((k, v) for k, v in query.items()))
    return size + 1, pager.offset, pager


def settle(pager: Pager, fetched: Sequence[T]) -> tuple[list[T], Pager]:
    """A page's items from what the service answered for `window`'s limit, and whether more follow."""
    return list(fetched[: pager.size]), Pager(pager.name, pager.number, pager.size, len(fetched) > pager.size,
                                              pager.path, pager.query)


def slice_page(query: Mapping[str, str], path: str, name: str, everything: Sequence[T],
               size: int = PAGE_SIZE) -> tuple[list[T], Pager]:
    """A page of a list the service answered whole."""
    _, offset, pager = window(query, path, name, size)
    return settle(pager, list(everything[offset: offset + size + 1]))
