"""Clearer errors for a config that names a type no registry knows."""
import contextlib
import difflib
import re
from typing import Iterator, List, Optional

from mmengine.registry import Registry

_UNKNOWN_TYPE = re.compile(r'([\w.]+) is not in the ([\w.]+)::(.+?) registry')


class UnknownTypeError(KeyError):
    """A config ``type=`` names nothing registered; the message lists where it was looked
    for and the closest registered names."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


def _hrpose_registries() -> List[Registry]:
    import hrpose.registry as registries
    return [r for r in vars(registries).values() if isinstance(r, Registry)]


def _find_registry(scope: str, name: str) -> Optional[Registry]:
    """The registry called ``scope::name`` among hrpose's registries and their parents."""
    for registry in _hrpose_registries():
        while registry is not None:
            if registry.scope == scope and registry.name == name:
                return registry
            registry = registry.parent
    return None


def describe_unknown_type(type_name: str, registry: Registry) -> str:
    """Which registries a lookup of ``type_name`` searched, and the close matches.

    Args:
        type_name: the unknown ``type`` from the config.
        registry: the registry the lookup started in.
    """
    searched, names = [], set()
    current = registry
    while current is not None:
        current.import_from_location()
        searched.append(f'{current.scope}::{current.name}')
        names.update(current.module_dict)
        current = current.parent
    by_lower = {n.lower(): n for n in names}
    matches = difflib.get_close_matches(type_name.lower(), list(by_lower), n=5, cutoff=0.6)
    hint = (f'close matches: {", ".join(by_lower[m] for m in matches)}'
            if matches else 'no close match')
    return (f'type {type_name!r} is not registered; searched {" -> ".join(searched)} '
            f'({len(names)} names); {hint}. Check the spelling in the config, or that the '
            'module defining it is imported (custom_imports).')


@contextlib.contextmanager
def explain_unknown_types() -> Iterator[None]:
    """Re-raise mmengine's "X is not in the scope::name registry" KeyError (possibly nested in
    the error of the module being built) as an :class:`UnknownTypeError` that names the
    registries searched and the close matches; the original message stays in the text."""
    try:
        yield
    except KeyError as e:
        match = _UNKNOWN_TYPE.search(str(e))
        registry = match and _find_registry(match.group(2), match.group(3))
        if isinstance(e, UnknownTypeError) or registry is None:
            raise
        message = describe_unknown_type(match.group(1), registry)
        raise UnknownTypeError(f'{message}\n(while building: {e.args[0] if e.args else e})') \
            from e
