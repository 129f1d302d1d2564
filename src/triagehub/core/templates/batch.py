"""Batch template mining (after Brain): group a whole list with corpus-wide statistics."""

from __future__ import annotations

from collections.abc import Sequence

from triagehub.core.templates.align import aligns, generalise, skeleton_of, wildcard_fits
from triagehub.core.templates.masking import (
    VARIABLE_THRESHOLD,
    WILDCARD,
    Masker,
    TokenKey,
    is_pure_wildcard,
)


def _column_is_variable(values: dict[str, int], columns_of: dict[str, int], threshold: int) -> bool:
    """Whether one position of a cluster holds a variable, from the values seen there."""
    wild = [value for value in values if WILDCARD in value]
    if wild:
        # A constant that also occurs at another position is a shifted constant (an optional
        # token moved it), not a value: then the masked values prove nothing.
        shifted = any(columns_of[v] > 1 for v in values if WILDCARD not in v)
        if not shifted and all(any(wildcard_fits(w, v) for w in wild) for v in values):
            return True
    return len(values) >= threshold


def _mine_same_length(
    keys: list[TokenKey], counts: dict[TokenKey, int], length: int, threshold: int
) -> dict[TokenKey, TokenKey]:
    """Templates for distinct token sequences of one length (Brain's root and columns)."""
    if len(keys) == 1:
        return {keys[0]: keys[0]}
    position_counts: list[dict[str, int]] = [{} for _ in range(length)]
    for key in keys:
        weight = counts[key]
        for column, token in zip(position_counts, key, strict=True):
            column[token] = column.get(token, 0) + weight
    roots: dict[tuple[tuple[int, str], ...], list[TokenKey]] = {}
    for key in keys:
        freqs = [column[token] for column, token in zip(position_counts, key, strict=True)]
        votes: dict[int, int] = {}
        for freq, token in zip(freqs, key, strict=True):
            if not is_pure_wildcard(token):
                votes[freq] = votes.get(freq, 0) + 1
        best = max(votes.items(), key=lambda item: (item[1], item[0]))[0] if votes else -1
        root = tuple((i, token) for i, token in enumerate(key) if freqs[i] == best)
        roots.setdefault(root, []).append(key)
    templates: dict[TokenKey, TokenKey] = {}
    for root, members in roots.items():
        if len(members) == 1:
            templates[members[0]] = members[0]
            continue
        fixed = {i for i, _ in root}
        columns = [{} if i in fixed else _value_counts(members, counts, i) for i in range(length)]
        columns_of: dict[str, int] = {}
        for i in range(length):
            values = columns[i] if i not in fixed else {members[0][i]: 0}
            for value in values:
                columns_of[value] = columns_of.get(value, 0) + 1
        general: dict[int, str] = {}
        for i, values in enumerate(columns):
            if len(values) > 1 and _column_is_variable(values, columns_of, threshold):
                general[i] = generalise(values)
        for key in members:
            if general:
                templates[key] = tuple(general.get(i, token) for i, token in enumerate(key))
            else:
                templates[key] = key
    return templates


def _value_counts(members: list[TokenKey], counts: dict[TokenKey, int], i: int) -> dict[str, int]:
    values: dict[str, int] = {}
    for key in members:
        values[key[i]] = values.get(key[i], 0) + counts[key]
    return values


def _merge_aligned(template_counts: dict[TokenKey, int]) -> dict[TokenKey, TokenKey]:
    """Map each template to a representative: templates with the same constant tokens that
    align (see :func:`aligns`) share the most frequent one."""
    by_skeleton: dict[TokenKey, list[TokenKey]] = {}
    for template in template_counts:
        by_skeleton.setdefault(skeleton_of(template), []).append(template)
    representative: dict[TokenKey, TokenKey] = {}
    for skeleton, templates in by_skeleton.items():
        if len(templates) == 1 or not skeleton:
            for template in templates:
                representative[template] = template
            continue
        ordered = sorted(templates, key=lambda t: -template_counts[t])  # stable: ties keep order
        heads: list[TokenKey] = []
        for template in ordered:
            for head in heads:
                if aligns(head, template):
                    representative[template] = head
                    break
            else:
                representative[template] = template
                heads.append(template)
    return representative


def mine(messages: Sequence[str], *, variable_threshold: int = VARIABLE_THRESHOLD) -> list[int]:
    """Group a whole list of messages; returns one cluster label per message.

    Labels are 0, 1, 2, ... in order of first appearance. The grouping uses the whole list (it is
    not the same as feeding :class:`TemplateMiner` one message at a time), and is deterministic.
    """
    masker = Masker()
    keys = [masker.tokens(message) for message in messages]
    counts: dict[TokenKey, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    by_length: dict[int, list[TokenKey]] = {}
    for key in counts:
        by_length.setdefault(len(key), []).append(key)
    template_of: dict[TokenKey, TokenKey] = {}
    for length, group in by_length.items():
        template_of.update(_mine_same_length(group, counts, length, variable_threshold))
    template_counts: dict[TokenKey, int] = {}
    for key, template in template_of.items():
        template_counts[template] = template_counts.get(template, 0) + counts[key]
    representative = _merge_aligned(template_counts)
    label_of: dict[TokenKey, int] = {}
    labels: list[int] = []
    for key in keys:
        template = representative[template_of[key]]
        label = label_of.get(template)
        if label is None:
            label = label_of[template] = len(label_of)
        labels.append(label)
    return labels
